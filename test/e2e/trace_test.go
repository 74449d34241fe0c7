package e2e

// `vswitchctl trace` (issue 12) as a user checks it: a packet between two
// isolated networks ends "Verdict: drop (isolation)", and after network
// connect the same trace is forwarded and names the route and the neighbour
// entry; a trace out by the uplink shows the masquerade, one in on the
// uplink to a published port the DNAT; a dry run leaves the tables alone;
// a live trace of a ping shows the echo and its reply stage by stage.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// The JSON of `trace -o json`, as a client reads it.
type traceStage struct {
	Stage    string `json:"stage"`
	Decision string `json:"decision"`
	Reason   string `json:"reason"`
	Text     string `json:"text"`
	Route    *struct {
		Prefix string `json:"prefix"`
		Kind   string `json:"kind"`
		Port   string `json:"port"`
	} `json:"route"`
	ARP *struct {
		IP    string `json:"ip"`
		MAC   string `json:"mac"`
		State string `json:"state"`
		Port  string `json:"port"`
	} `json:"arp"`
	NAT *struct {
		Kind string  `json:"kind"`
		From ctTuple `json:"from"`
		To   ctTuple `json:"to"`
	} `json:"nat"`
	Isolation *struct {
		From   string `json:"from"`
		To     string `json:"to"`
		Reason string `json:"reason"`
	} `json:"isolation"`
}

type traceOut struct {
	In      string       `json:"in"`
	Stages  []traceStage `json:"stages"`
	Verdict struct {
		Action string   `json:"action"`
		Ports  []string `json:"ports"`
		Reason string   `json:"reason"`
		Text   string   `json:"text"`
		SentAs *struct {
			Src   string `json:"src"`
			Dst   string `json:"dst"`
			DPort int    `json:"dport"`
			ICMP  string `json:"icmp"`
		} `json:"sent_as"`
	} `json:"verdict"`
}

func (t traceOut) stage(name string) *traceStage {
	for i := range t.Stages {
		if t.Stages[i].Stage == name {
			return &t.Stages[i]
		}
	}
	return nil
}

func TestTraceIsolationConnectNATPublish(t *testing.T) {
	e := newEnv(t)
	d := e.startDaemon("")
	ext := e.outside(d)
	d.mustCtl("network", "create", "net1", "--subnet", "172.22.0.0/16")
	d.mustCtl("network", "create", "net2", "--subnet", "172.23.0.0/16")
	c1, c3 := e.newNS("c1"), e.newNS("c3")
	d.addPort("net1", c1, "--name", "c1", "--ip", "172.22.0.2")
	p3 := d.addPort("net2", c3, "--name", "c3", "--ip", "172.23.0.3")

	// Isolated: the text's last line, and the stage that said so.
	out := d.mustCtl("trace", "--in", "c1", "--dst", "172.23.0.3")
	t.Logf("trace c1 -> c3, isolated:\n%s", out)
	if got := lastLine(out); got != "Verdict: drop (isolation)" {
		t.Errorf("isolated trace ends %q, want \"Verdict: drop (isolation)\"", got)
	}
	var tr traceOut
	d.ctlJSON(&tr, "trace", "--in", "c1", "--dst", "172.23.0.3")
	t.Logf("trace -o json c1 -> c3, isolated:\n%s", d.mustCtl("-o", "json", "trace", "--in", "c1", "--dst", "172.23.0.3"))
	if s := tr.stage("isolation"); s == nil || s.Isolation == nil || s.Isolation.From != "net1" || s.Isolation.To != "net2" || s.Reason != "isolation" {
		t.Errorf("isolated trace -o json: isolation stage %+v, want net1 -> net2 dropped", s)
	}
	if tr.Verdict.Action != "drop" || tr.Verdict.Reason != "isolation" {
		t.Errorf("isolated trace -o json verdict %+v", tr.Verdict)
	}

	// The dry run learned, tracked and counted nothing.
	before := d.stats()
	ctBefore := len(d.conntrack())
	for range 3 {
		d.mustCtl("trace", "--in", "c1", "--dst", "172.23.0.3", "--dport", "80")
	}
	after := d.stats()
	if before["c1"].RxPackets != after["c1"].RxPackets || before["c1"].Drops["isolation"] != after["c1"].Drops["isolation"] {
		t.Errorf("trace changed c1's counters: before %+v after %+v", before["c1"], after["c1"])
	}
	if n := len(d.conntrack()); n != ctBefore {
		t.Errorf("trace made conntrack entries: %d -> %d", ctBefore, n)
	}
	if es := d.fdb("net1"); len(es) != 0 {
		t.Errorf("trace filled the FDB of net1: %+v", es)
	}

	// Connected: forwarded to c3, by the route of net2 and c3's neighbour entry.
	d.mustCtl("network", "connect", "net1", "net2")
	tr = traceOut{}
	out = d.mustCtl("trace", "--in", "c1", "--dst", "172.23.0.3")
	t.Logf("trace c1 -> c3, connected:\n%s", out)
	if got := lastLine(out); !strings.HasPrefix(got, "Verdict: forward to c3 ") {
		t.Errorf("connected trace ends %q, want \"Verdict: forward to c3 ...\"", got)
	}
	if !strings.Contains(out, "route 172.23.0.0/16 connected") || !strings.Contains(out, "ARP entry 172.23.0.3 "+p3.MAC) {
		t.Errorf("connected trace does not name the route 172.23.0.0/16 and the ARP entry of 172.23.0.3 (%s):\n%s", p3.MAC, out)
	}
	d.ctlJSON(&tr, "trace", "--in", "c1", "--dst", "172.23.0.3")
	if s := tr.stage("route"); s == nil || s.Route == nil || s.Route.Prefix != "172.23.0.0/16" || s.Route.Kind != "connected" || s.Route.Port != "net2" {
		t.Errorf("connected trace: route stage %+v", s)
	}
	if s := tr.stage("neighbour"); s == nil || s.ARP == nil || s.ARP.IP != "172.23.0.3" || s.ARP.MAC != p3.MAC || s.ARP.State != "permanent" {
		t.Errorf("connected trace: neighbour stage %+v, want 172.23.0.3 %s permanent", s, p3.MAC)
	}
	if len(tr.Verdict.Ports) != 1 || tr.Verdict.Ports[0] != "c3" {
		t.Errorf("connected trace: verdict %+v, want c3", tr.Verdict)
	}
	e.mustPing(c1, "172.23.0.3") // the trace told the truth

	// Out by the uplink: masqueraded to the uplink's address (host2's
	// neighbour entry made by a ping first, else the trace says it waits
	// for ARP).
	e.mustPing(c1, extIP)
	tr = traceOut{}
	d.ctlJSON(&tr, "trace", "--in", "c1", "--dst", extIP, "--proto", "tcp", "--dport", "8080")
	s := tr.stage("nat")
	if s == nil || s.NAT == nil || s.NAT.Kind != "snat" || s.NAT.From.Src != "172.22.0.2" || s.NAT.To.Src != upIP {
		t.Errorf("trace c1 -> host2: nat stage %+v, want snat 172.22.0.2 -> %s", s, upIP)
	}
	if tr.Verdict.Action != "forward" || len(tr.Verdict.Ports) != 1 || tr.Verdict.Ports[0] != "uplink" || tr.Verdict.SentAs == nil || tr.Verdict.SentAs.Src != upIP {
		t.Errorf("trace c1 -> host2: verdict %+v, want forward to uplink from %s", tr.Verdict, upIP)
	}
	out = d.mustCtl("trace", "--in", "c1", "--dst", extIP, "--proto", "tcp", "--dport", "8080")
	t.Logf("trace c1 -> host2:\n%s", out)

	// In on the uplink to a published port: the DNAT to c1.
	d.mustCtl("publish", "add", "net1", "--proto", "tcp", "--port", "8000", "--to", "172.22.0.2:8080")
	tr = traceOut{}
	d.ctlJSON(&tr, "trace", "--in", "uplink", "--src", extIP, "--dst", upIP, "--dport", "8000")
	s = tr.stage("nat")
	if s == nil || s.NAT == nil || s.NAT.Kind != "dnat" || s.NAT.To.Dst != "172.22.0.2" || s.NAT.To.Dport != 8080 {
		t.Errorf("trace host2 -> uplink:8000: nat stage %+v, want dnat to 172.22.0.2:8080", s)
	}
	if tr.Verdict.Action != "forward" || len(tr.Verdict.Ports) != 1 || tr.Verdict.Ports[0] != "c1" {
		t.Errorf("trace host2 -> uplink:8000: verdict %+v, want forward to c1", tr.Verdict)
	}
	out = d.mustCtl("trace", "--in", "uplink", "--src", extIP, "--dst", upIP, "--dport", "8000")
	t.Logf("trace host2 -> uplink:8000:\n%s", out)
	_ = ext

	// Bad input: one line saying what to do, exit 1; a usage error exits 2.
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"trace", "--in", "nope", "--dst", "172.23.0.3"}, 1, "port ls"},
		{[]string{"trace", "--in", "c1", "--dst", "172.23.0.300"}, 1, "IPv4 address"},
		{[]string{"trace", "--in", "c1", "--dst", "172.23.0.3", "--proto", "sctp"}, 1, "tcp, udp or icmp"},
		{[]string{"trace", "--dst", "172.23.0.3"}, 2, "--in PORT"},
		{[]string{"trace", "--live", "--in", "c1"}, 2, "--live"},
	} {
		r := d.ctl(c.args...)
		if r.code != c.code || !strings.Contains(r.stderr, c.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("vswitchctl %s: exit %d, stderr %q; want exit %d, one line mentioning %q", strings.Join(c.args, " "), r.code, r.stderr, c.code, c.want)
		}
	}
}

// A live trace of one ping from c1 to c3 (routed between connected
// networks) shows the echo request and the echo reply, each stage by stage.
func TestTraceLivePing(t *testing.T) {
	e := newEnv(t)
	d := e.startDaemon("")
	d.mustCtl("network", "create", "net1", "--subnet", "172.22.0.0/16")
	d.mustCtl("network", "create", "net2", "--subnet", "172.23.0.0/16")
	c1, c3 := e.newNS("c1"), e.newNS("c3")
	d.addPort("net1", c1, "--name", "c1", "--ip", "172.22.0.2")
	d.addPort("net2", c3, "--name", "c3", "--ip", "172.23.0.3")
	d.mustCtl("network", "connect", "net1", "net2")
	e.mustPing(c1, "172.23.0.3") // neighbours and FDB warm

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	live := exec.CommandContext(ctx, vswitchctlBin, "--socket", d.sock, "-o", "json", "trace", "--live",
		"--src", "172.22.0.2", "--dst", "172.23.0.3", "--proto", "icmp", "--count", "2")
	live.Stdout, live.Stderr = &stdout, &stderr
	if err := live.Start(); err != nil {
		t.Fatal(err)
	}
	// Ping until the trace has its two packets: the first ping may come
	// before the daemon has the trace on.
	done := make(chan error, 1)
	go func() { done <- live.Wait() }()
	var werr error
wait:
	for {
		e.ping(c1, "172.23.0.3", 1)
		select {
		case werr = <-done:
			break wait
		case <-time.After(500 * time.Millisecond):
		}
	}
	if werr != nil {
		t.Fatalf("trace --live: %v\nstderr: %s\nstdout: %s", werr, stderr.String(), stdout.String())
	}
	type event struct {
		Trace *traceOut `json:"trace"`
		End   *struct {
			Packets  int    `json:"packets"`
			Overflow uint64 `json:"overflow"`
		} `json:"end"`
	}
	var evs []event
	for _, l := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		var ev event
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("trace --live -o json line %q: %v", l, err)
		}
		evs = append(evs, ev)
	}
	if len(evs) != 3 || evs[0].Trace == nil || evs[1].Trace == nil || evs[2].End == nil || evs[2].End.Packets != 2 {
		t.Fatalf("trace --live --count 2: want 2 packets and the end, got:\n%s", stdout.String())
	}
	req, rep := evs[0].Trace, evs[1].Trace
	if req.In != "c1" || req.Verdict.Action != "forward" || len(req.Verdict.Ports) != 1 || req.Verdict.Ports[0] != "c3" ||
		req.Verdict.SentAs == nil || !strings.HasPrefix(req.Verdict.SentAs.ICMP, "echo-request") {
		t.Errorf("first live record: want the echo request c1 -> c3, got %+v", req)
	}
	if rep.In != "c3" || rep.Verdict.Action != "forward" || len(rep.Verdict.Ports) != 1 || rep.Verdict.Ports[0] != "c1" ||
		rep.Verdict.SentAs == nil || !strings.HasPrefix(rep.Verdict.SentAs.ICMP, "echo-reply") {
		t.Errorf("second live record: want the echo reply c3 -> c1, got %+v", rep)
	}
	for _, r := range []*traceOut{req, rep} {
		for _, st := range []string{"l2", "conntrack", "route", "isolation", "neighbour", "egress"} {
			if r.stage(st) == nil {
				t.Errorf("live record in %s has no %s stage: %+v", r.In, st, r.Stages)
			}
		}
	}

	// And the text form, as a user reads it.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel2()
	var text bytes.Buffer
	live = exec.CommandContext(ctx2, vswitchctlBin, "--socket", d.sock, "trace", "--live", "--port", "c3", "--proto", "icmp", "--count", "2")
	live.Stdout, live.Stderr = &text, &stderr
	if err := live.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- live.Wait() }()
wait2:
	for {
		e.ping(c1, "172.23.0.3", 1)
		select {
		case werr = <-done:
			break wait2
		case <-time.After(500 * time.Millisecond):
		}
	}
	if werr != nil {
		t.Fatalf("trace --live --port c3: %v\n%s", werr, stderr.String())
	}
	t.Logf("trace --live --port c3 --proto icmp --count 2:\n%s", text.String())
	if c := strings.Count(text.String(), "Verdict: forward to "); c != 2 || !strings.Contains(text.String(), "2 packets traced (count reached)") {
		t.Errorf("text live trace: want 2 verdicts and the count line, got:\n%s", text.String())
	}

	// Ctrl-C ends a live trace early, exit 0, and the daemon lets go of it:
	// the next live trace is not refused as already running.
	ctx3, cancel3 := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel3()
	live = exec.CommandContext(ctx3, vswitchctlBin, "--socket", d.sock, "trace", "--live", "--proto", "icmp", "--count", "1000")
	live.Stderr = &stderr
	pipe, err := live.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := live.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1000)
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var text3 []string
	sawVerdict := false
	for i := 0; i < 50 && !sawVerdict; i++ {
		e.ping(c1, "172.23.0.3", 1)
		for drained := false; !drained; {
			select {
			case l := <-lines:
				text3 = append(text3, l)
				sawVerdict = sawVerdict || strings.HasPrefix(l, "Verdict:")
			default:
				drained = true
			}
		}
	}
	live.Process.Signal(os.Interrupt)
	for l := range lines {
		text3 = append(text3, l)
	}
	if err := live.Wait(); err != nil {
		t.Fatalf("trace --live after Ctrl-C: %v\n%s", err, stderr.String())
	}
	if !sawVerdict || !strings.Contains(strings.Join(text3, "\n"), "packets traced (stopped)") {
		t.Errorf("trace --live then Ctrl-C: want a record and the summary line, got:\n%s", strings.Join(text3, "\n"))
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		ctx4, cancel4 := context.WithTimeout(context.Background(), 2*time.Second)
		out, _ := exec.CommandContext(ctx4, vswitchctlBin, "--socket", d.sock, "trace", "--live", "--count", "1").CombinedOutput()
		cancel4()
		if !strings.Contains(string(out), "already running") {
			break // it ran (and was cut by the timeout, or saw a packet)
		}
		if time.Now().After(deadline) {
			t.Fatalf("5 s after Ctrl-C the daemon still holds the live trace: %s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// A running live trace does not hold up vswitchd's stop: the stream
	// ends at once saying why.
	ctx5, cancel5 := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel5()
	var text5 bytes.Buffer
	live = exec.CommandContext(ctx5, vswitchctlBin, "--socket", d.sock, "trace", "--live", "--dport", "1", "--count", "5")
	live.Stdout, live.Stderr = &text5, &stderr
	if err := live.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // the trace is on
	start := time.Now()
	d.stop()
	if err := live.Wait(); err != nil {
		t.Fatalf("trace --live when vswitchd stops: %v\n%s", err, stderr.String())
	}
	if took := time.Since(start); took > 3*time.Second || !strings.Contains(text5.String(), "0 packets traced (vswitchd is stopping)") {
		t.Errorf("vswitchd stopped in %v with a live trace running (its grace period is 5 s), the trace said:\n%s", took, text5.String())
	}
}
