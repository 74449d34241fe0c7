package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

// reloadConfig is the file of TestReloadSIGHUP: network web with a client
// and a server port, and more (networks, YAML lines) when given.
func reloadConfig(a, b, more string) string {
	return fmt.Sprintf(`networks:
  - name: web
    subnet: 10.231.0.0/24
%sports:
  - network: web
    netns: %s
    ip: 10.231.0.10
  - network: web
    netns: %s
    ip: 10.231.0.11
`, more, a, b)
}

// iperfIntervals is what TestReloadSIGHUP reads of iperf3 -J: the rate of
// each interval and the total.
type iperfIntervals struct {
	Error     string `json:"error"`
	Intervals []struct {
		Sum struct {
			Start         float64 `json:"start"`
			BitsPerSecond float64 `json:"bits_per_second"`
		} `json:"sum"`
	} `json:"intervals"`
	End struct {
		SumReceived struct {
			BitsPerSecond float64 `json:"bits_per_second"`
		} `json:"sum_received"`
	} `json:"end"`
}

// SIGHUP with a network added to the file: the network appears while an
// iperf3 transfer runs on another, which never stalls, and the ports keep
// their counters (they were not re-opened). A file with a bad subnet is
// refused by `vswitchctl reload` (exit 1, its line) and by SIGHUP (in the
// log), and nothing changes.
func TestReloadSIGHUP(t *testing.T) {
	e := newEnv(t)
	if !haveCmd("iperf3") {
		t.Skip("needs iperf3 (apt-get install iperf3)")
	}
	a, b := e.newNS("a"), e.newNS("b")
	cfg := filepath.Join(e.dir, "vswitchd.yaml")
	write := func(body string) {
		t.Helper()
		if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(reloadConfig(a, b, ""))
	d := e.startDaemon("", "--config", cfg)
	var nets0 []map[string]any
	d.ctlJSON(&nets0, "network", "ls")
	if len(nets0) != 1 {
		t.Fatalf("network ls after start = %+v, want web alone", nets0)
	}
	e.mustPing(a, "10.231.0.11")
	ifindex := func(ns string) string {
		return strings.Fields(e.mustNS(ns, "ip", "-o", "link", "show", "dev", "eth0"))[0]
	}
	idxA := ifindex(a)

	// An 8 s transfer, 0.5 s intervals; the reload comes 3 s in.
	e.startInNS(b, "iperf3", "-s", "-1", "-B", "10.231.0.11")
	e.waitListen(b, "tcp", 5201)
	res := make(chan result, 1)
	go func() {
		res <- e.inNS(a, 40*time.Second, "iperf3", "-c", "10.231.0.11", "-t", "8", "-i", "0.5", "-J")
	}()
	time.Sleep(3 * time.Second)
	before := d.stats()
	write(reloadConfig(a, b, "  - name: db\n    subnet: 10.232.0.0/24\n"))
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var nets []network
		d.ctlJSON(&nets, "network", "ls")
		if len(nets) == 2 && nets[1].Name == "db" && nets[1].Subnet == "10.232.0.0/24" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("network db not there 10 s after SIGHUP: %+v", nets)
		}
		time.Sleep(100 * time.Millisecond)
	}
	after := d.stats()
	r := <-res
	if r.code != 0 {
		t.Fatalf("iperf3 across the reload failed:\n%v", r)
	}
	var out iperfIntervals
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || out.Error != "" {
		t.Fatalf("iperf3 -J: %v %s\n%s", err, out.Error, r.stdout)
	}
	if len(out.Intervals) < 15 {
		t.Fatalf("iperf3 reported %d intervals, want 16 for 8 s at 0.5 s", len(out.Intervals))
	}
	slowest := out.Intervals[0].Sum.BitsPerSecond
	for _, iv := range out.Intervals {
		slowest = min(slowest, iv.Sum.BitsPerSecond)
		if iv.Sum.BitsPerSecond == 0 {
			t.Errorf("iperf3 moved nothing in the interval at %.1f s: the reload cut the transfer", iv.Sum.Start)
		}
	}
	t.Logf("iperf3 across the reload: %.2f Gbit/s, slowest 0.5 s interval %.2f Gbit/s", out.End.SumReceived.BitsPerSecond/1e9, slowest/1e9)
	// The ports were not re-opened: their counters went on from where
	// they were (a re-opened port starts from 0).
	for _, p := range []string{a, b} {
		if after[p].RxPackets < before[p].RxPackets || after[p].TxPackets < before[p].TxPackets || before[p].RxPackets == 0 {
			t.Errorf("port %s counters went from rx %d tx %d to rx %d tx %d across the reload", p,
				before[p].RxPackets, before[p].TxPackets, after[p].RxPackets, after[p].TxPackets)
		}
	}
	if got := ifindex(a); got != idxA {
		t.Errorf("eth0 in %s is a new device after the reload: %s, was %s", a, got, idxA)
	}
	if log, _ := os.ReadFile(d.logPath); !strings.Contains(string(log), `change="network db: created, subnet 10.232.0.0/24, gateway 10.232.0.1"`) {
		t.Errorf("the log does not say what the reload changed:\n%s", tail(string(log), 20))
	}
	var nets1 []map[string]any
	d.ctlJSON(&nets1, "network", "ls")

	// A bad subnet on line 7: refused whole by vswitchctl reload, naming
	// the line; the network it adds before it is not made.
	write(reloadConfig(a, b, "  - name: db\n    subnet: 10.232.0.0/24\n  - name: more\n    subnet: 10.233.0.0/33\n    mtu: 1400\n"))
	const bad = "line 7: networks[2].subnet: bad CIDR \"10.233.0.0/33\""
	rr := d.ctl("reload")
	if rr.code != 1 || !strings.Contains(rr.stderr, bad) || !strings.HasPrefix(rr.stderr, "vswitchctl: config "+cfg+" ") || strings.Count(strings.TrimSpace(rr.stderr), "\n") != 0 {
		t.Errorf("vswitchctl reload of a broken file: exit %d, stderr %q; want exit 1 and one line with %q", rr.code, rr.stderr, bad)
	}
	var nets2 []map[string]any
	d.ctlJSON(&nets2, "network", "ls")
	if !reflect.DeepEqual(nets2, nets1) {
		t.Errorf("network ls after a refused reload =\n%+v\nwant\n%+v", nets2, nets1)
	}

	// The same file by SIGHUP: the refusal in the log, nothing changed,
	// vswitchd still serving.
	logBefore, _ := os.ReadFile(d.logPath)
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		log, _ := os.ReadFile(d.logPath)
		added := string(log[len(logBefore):])
		if strings.Contains(added, "reload refused") {
			if !strings.Contains(added, "10.233.0.0/33") || !strings.Contains(added, "line 7") {
				t.Errorf("the log of the refused SIGHUP reload does not name the line and value:\n%s", added)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no refusal in the log 10 s after SIGHUP with a broken file:\n%s", added)
		}
		time.Sleep(100 * time.Millisecond)
	}
	d.ctlJSON(&nets2, "network", "ls")
	if !reflect.DeepEqual(nets2, nets1) {
		t.Errorf("network ls after a refused SIGHUP =\n%+v\nwant\n%+v", nets2, nets1)
	}
	e.mustPing(a, "10.231.0.11")

	// Put right, with db taken out again: vswitchctl reload says so.
	write(reloadConfig(a, b, ""))
	if out := d.mustCtl("reload"); out != "network db: removed\n" {
		t.Errorf("vswitchctl reload printed %q, want %q", out, "network db: removed\n")
	}
	if out := d.mustCtl("reload"); out != "config "+cfg+": nothing changed\n" {
		t.Errorf("vswitchctl reload of an applied file printed %q", out)
	}
}

// A live option changed by a reload takes effect on the running network:
// icc: false stops the pings between its ports (dropped, reason icc), and
// putting it back lets them through again; the ports stay the same devices.
func TestReloadLiveOption(t *testing.T) {
	e := newEnv(t)
	a, b := e.newNS("a"), e.newNS("b")
	cfg := filepath.Join(e.dir, "vswitchd.yaml")
	write := func(body string) {
		t.Helper()
		if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(reloadConfig(a, b, ""))
	d := e.startDaemon("", "--config", cfg)
	e.mustPing(a, "10.231.0.11")
	link := e.mustNS(b, "ip", "-o", "link", "show", "dev", "eth0")

	write(strings.Replace(reloadConfig(a, b, ""), "    subnet: 10.231.0.0/24\n", "    subnet: 10.231.0.0/24\n    icc: false\n", 1))
	if out := d.mustCtl("reload"); out != "network web: icc true -> false\n" {
		t.Fatalf("reload printed %q", out)
	}
	if n := d.dropDelta("icc", func() {
		if none, r := e.noReply(a, "10.231.0.11", 2); !none {
			t.Errorf("a ping between the ports passed with icc: false:\n%v", r)
		}
	}); n == 0 {
		t.Errorf("no drop counted for reason icc")
	}
	write(reloadConfig(a, b, ""))
	if out := d.mustCtl("reload"); out != "network web: icc false -> true\n" {
		t.Fatalf("reload printed %q", out)
	}
	e.mustPing(a, "10.231.0.11")
	if now := e.mustNS(b, "ip", "-o", "link", "show", "dev", "eth0"); strings.Fields(now)[0] != strings.Fields(link)[0] {
		t.Errorf("eth0 in %s is a new device after the reloads", b)
	}
}

// Without --config there is nothing to reload: vswitchctl says so (exit 1)
// and SIGHUP does not stop vswitchd.
func TestReloadWithoutConfig(t *testing.T) {
	e := newEnv(t)
	d := e.startDaemon("")
	r := d.ctl("reload")
	if r.code != 1 || strings.TrimSpace(r.stderr) != "vswitchctl: vswitchd was started without --config: there is no file to reload (start it with --config FILE)" {
		t.Errorf("reload without --config: %v", r)
	}
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if r := d.ctl("version"); r.code != 0 {
		t.Fatalf("vswitchd does not answer after SIGHUP without --config: %v", r)
	}
}

// An upgrade: the state dir of a vswitchd that wrote version 1 files,
// taken over by this one. The TAP is the same device, it forwards, and the
// state is version 3 with the old file kept. A state file from a newer
// vswitchd is refused, untouched.
func TestUpgradeFromV1StateDir(t *testing.T) {
	e := newEnv(t)
	d := e.startDaemon("")
	d.mustCtl("network", "create", "lan", "--subnet", "10.234.0.0/24")
	a, b := e.newNS("a"), e.newNS("b")
	pa, pb := d.addPort("lan", a), d.addPort("lan", b)
	e.mustPing(a, pb.addr())
	nets0, ports0 := snapshot(t, d)
	idx := e.mustNS(a, "ip", "-o", "link", "show", "dev", "eth0")
	if code := d.stop(); code != 0 {
		t.Fatalf("vswitchd exited %d on SIGTERM", code)
	}

	// The file as version 1 wrote it: the same keys, version 1, no config
	// record (testdata/state-v1.json in package daemon is one from that
	// version itself).
	path := filepath.Join(d.stateDir, "state.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var st map[string]any
	if err := json.Unmarshal(raw, &st); err != nil || st["version"] != 3.0 {
		t.Fatalf("state written by this vswitchd: version %v, %v", st["version"], err)
	}
	st["version"] = 1
	delete(st, "config")
	v1, _ := json.MarshalIndent(st, "", "  ")
	if err := os.WriteFile(path, v1, 0o640); err != nil {
		t.Fatal(err)
	}

	d = e.startDaemon(d.stateDir)
	nets, ports := snapshot(t, d)
	if !reflect.DeepEqual(nets, nets0) || !reflect.DeepEqual(ports, ports0) {
		t.Errorf("after the upgrade: networks %+v ports %+v\nwant %+v %+v", nets, ports, nets0, ports0)
	}
	e.mustPing(a, pb.addr())
	e.mustPing(b, pa.addr())
	if now := e.mustNS(a, "ip", "-o", "link", "show", "dev", "eth0"); strings.Fields(now)[0] != strings.Fields(idx)[0] {
		t.Errorf("eth0 in %s is a new device: %s, was %s", a, strings.Fields(now)[0], strings.Fields(idx)[0])
	}
	now, _ := os.ReadFile(path)
	var head struct{ Version int }
	if json.Unmarshal(now, &head); head.Version != 3 {
		t.Errorf("state file version after the upgrade = %d, want 3", head.Version)
	}
	if kept, err := os.ReadFile(path + ".v1"); err != nil || string(kept) != string(v1) {
		t.Errorf("state.json.v1 not the version 1 file: %v", err)
	}
	if log, _ := os.ReadFile(d.logPath); !strings.Contains(string(log), "state file migrated") {
		t.Errorf("the log does not say the state was migrated")
	}
	d.stop()

	// A newer version: refused, in one line, the file left as it is.
	newer := strings.Replace(string(now), `"version": 3`, `"version": 4`, 1)
	os.WriteFile(path, []byte(newer), 0o640)
	r := run(20*time.Second, vswitchdBin, "--socket", d.sock, "--state-dir", d.stateDir, "--no-default-network")
	want := fmt.Sprintf("vswitchd: state file %s is version 4, this vswitchd knows up to 3: upgrade vswitchd or move the state dir", path)
	if r.code != 1 || strings.TrimSpace(r.stderr) != want {
		t.Errorf("start on a version 4 state: %v\nwant exit 1 and %q", r, want)
	}
	if b, _ := os.ReadFile(path); string(b) != newer {
		t.Errorf("the version 4 state file was changed")
	}
	// The TAPs are still there for whichever vswitchd comes next.
	if !e.linkExists(a, "eth0") {
		t.Errorf("eth0 in %s went when vswitchd refused the state", a)
	}
}
