package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// policedPort is the part of a port object `port set` adds.
type policedPort struct {
	Name      string `json:"name"`
	RateMbit  int    `json:"ingress_rate_mbit"`
	BurstKB   int    `json:"ingress_burst_kb"`
	StateWord string `json:"state"`
}

// Ingress policing of a TAP port (issue 15): iperf3 TCP from the policed
// namespace runs within 10% of the rate at 200 and 500 Mbit/s with the
// default burst, the policed counter goes up, bad values are refused in
// one line, the limit comes back after a restart, and --rate 0 gives the
// port its full speed again.
func TestPortPolicing(t *testing.T) {
	e := newEnv(t)
	// vswitchd in a namespace of its own, serving metrics on its loopback.
	mon := e.newNS("mon")
	addr, hc := "127.0.0.1:9464", nsHTTP(mon)
	d := e.startDaemonIn(mon, "", "--metrics-addr", addr)
	d.mustCtl("network", "create", "pol", "--subnet", "10.216.0.0/24")
	c1, c2 := e.newNS("c1"), e.newNS("c2")
	p1, p2 := d.addPort("pol", c1), d.addPort("pol", c2)
	e.mustPing(c1, p2.addr())

	show := func(d *daemon) policedPort {
		t.Helper()
		var ps []policedPort
		d.ctlJSON(&ps, "port", "ls")
		for _, p := range ps {
			if p.Name == p1.Name {
				return p
			}
		}
		t.Fatalf("port ls has no %s", p1.Name)
		return policedPort{}
	}
	policed := func(d *daemon) uint64 { t.Helper(); return d.stats()[p1.Name].Drops["policed"] }
	// measure runs iperf3 from the policed port and checks the rate.
	measure := func(d *daemon, rate int) {
		t.Helper()
		before := policed(d)
		bps := e.iperf(c1, c2, p2.addr(), 5)
		n := policed(d) - before
		t.Logf("policed to %d Mbit/s: iperf3 TCP %.1f Mbit/s (%.3f of the rate), policed +%d", rate, bps/1e6, bps/1e6/float64(rate), n)
		if got := bps / 1e6; got < 0.9*float64(rate) || got > 1.1*float64(rate) {
			t.Errorf("policed to %d Mbit/s, iperf3 TCP ran at %.1f Mbit/s: not within 10%%", rate, got)
		}
		if n == 0 {
			t.Errorf("policed to %d Mbit/s, iperf3 ran and the policed counter of %s did not go up", rate, p1.Name)
		}
	}

	for _, rate := range []int{200, 500} {
		out := d.mustCtl("port", "set", p1.Name, "--rate", fmt.Sprint(rate))
		if !strings.Contains(out, fmt.Sprintf("ingress policed to %d Mbit/s", rate)) {
			t.Errorf("port set --rate %d printed %q", rate, out)
		}
		// The default burst: a quarter second of the rate.
		if p, want := show(d), rate*1e6/8/4/1024+1; p.RateMbit != rate || p.BurstKB != want {
			t.Errorf("port ls after --rate %d: %+v, want rate %d and burst %d KB", rate, p, rate, want)
		}
		measure(d, rate)
	}
	// Four streams spread over the TAP's queues, so both workers read the
	// port at once and share its bucket: together they hold the rate.
	before := policed(d)
	bps := iperfStreams(e, c1, c2, p2.addr(), 4, 5)
	t.Logf("policed to 500 Mbit/s, 4 streams: iperf3 TCP %.1f Mbit/s (%.3f of the rate), policed +%d", bps/1e6, bps/500e6, policed(d)-before)
	if got := bps / 1e6; got < 450 || got > 550 {
		t.Errorf("policed to 500 Mbit/s, 4 iperf3 streams ran at %.1f Mbit/s together: not within 10%%", got)
	}

	// stats and /metrics name the reason.
	if out := d.mustCtl("stats"); !strings.Contains(out, "policed") {
		t.Errorf("stats does not show the policed drops:\n%s", out)
	}
	m := scrapeMetrics(t, hc, addr) // up long since (it comes up after the API socket)
	if v, n := m.must(t, "vswitch_port_drops_total", "port", p1.Name, "reason", "policed"), policed(d); v == 0 || uint64(v) > n {
		t.Errorf("vswitch_port_drops_total{reason=policed} of %s = %v, want > 0 and at most stats' %d", p1.Name, v, n)
	}

	// Bad values: one line, exit 1, and the limit stays.
	for _, args := range [][]string{
		{"--rate", "-1"},
		{"--rate", "fast"},
		{"--rate", "100", "--burst", "10"},
		{"--rate", "100", "--burst", "1.5"},
		{"--rate", "0", "--burst", "1000"},
	} {
		r := d.ctl(append([]string{"port", "set", p1.Name}, args...)...)
		if r.code != 1 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || !strings.HasPrefix(r.stderr, "vswitchctl: ") {
			t.Errorf("port set %v: exit %d, stderr %q; want 1 and one line", args, r.code, r.stderr)
		}
	}
	if r := d.ctl("port", "set", "nosuchport", "--rate", "10"); r.code != 1 || !strings.Contains(r.stderr, "no port nosuchport") {
		t.Errorf("port set of an unknown port: exit %d, %q", r.code, r.stderr)
	}
	if p := show(d); p.RateMbit != 500 {
		t.Errorf("after refused changes: %+v, want still 500 Mbit/s", p)
	}

	// Kept in the state file: a restarted vswitchd polices the port again.
	d.stop()
	d = e.startDaemonIn(mon, d.stateDir)
	if p := show(d); p.RateMbit != 500 || p.StateWord != "up" {
		t.Fatalf("after restart: %+v, want 500 Mbit/s and up", p)
	}
	e.mustPing(c1, p2.addr())
	measure(d, 500)

	// --rate 0: no limit, full speed, nothing policed.
	d.mustCtl("port", "set", p1.Name, "--rate", "0")
	if p := show(d); p.RateMbit != 0 || p.BurstKB != 0 {
		t.Errorf("after --rate 0: %+v, want no rate and no burst", p)
	}
	before = policed(d)
	bps = e.iperf(c1, c2, p2.addr(), 3)
	t.Logf("limit removed: iperf3 TCP %.0f Mbit/s", bps/1e6)
	if bps < 2e9 {
		t.Errorf("limit removed, iperf3 TCP ran at %.0f Mbit/s, want well above the 500 it had (> 2000)", bps/1e6)
	}
	if n := policed(d) - before; n != 0 {
		t.Errorf("limit removed, still %d frames policed", n)
	}
}

// iperfStreams runs iperf3 TCP with n parallel streams from client to a
// server in server (at ip) and returns their received rate together.
func iperfStreams(e *env, client, server, ip string, n, secs int) float64 {
	e.t.Helper()
	e.startInNS(server, "iperf3", "-s", "-1", "-B", ip)
	var r result
	for range 50 { // until the server listens
		r = e.inNS(client, time.Duration(secs+20)*time.Second, "iperf3", "-c", ip, "-P", fmt.Sprint(n), "-t", fmt.Sprint(secs), "-J")
		if !strings.Contains(r.stdout+r.stderr, "Connection refused") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	var out struct {
		End struct {
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); r.code != 0 || err != nil || out.End.SumReceived.BitsPerSecond == 0 {
		e.t.Fatalf("iperf3 -P %d from %s to %s: %v\n%v", n, client, ip, err, r)
	}
	return out.End.SumReceived.BitsPerSecond
}
