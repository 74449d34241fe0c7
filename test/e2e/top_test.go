package e2e

import (
	"bytes"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// `top` on a non-terminal prints --count refreshes without escape codes;
// the port that pings has a receive rate, and the port that sends from a
// spoofed address shows drops with spoof as their reason. On a terminal
// (script(1) gives it one) the screen is cleared for each refresh and q
// quits.
func TestTop(t *testing.T) {
	e := newEnv(t)
	d := e.startDaemon("")
	d.mustCtl("network", "create", "lan", "--subnet", "10.206.0.0/24")
	c1, c2, c3 := e.newNS("c1"), e.newNS("c2"), e.newNS("c3")
	p1, p2, p3 := d.addPort("lan", c1), d.addPort("lan", c2), d.addPort("lan", c3)
	e.mustPing(c1, p2.addr())
	e.startInNS(c1, "ping", "-n", "-q", "-i", "0.05", "-c", "200", p2.addr())
	e.mustPing(c3, p2.addr()) // c3 knows c2's MAC: the spoofed pings need no ARP
	e.mustNS(c3, "ip", "addr", "add", "10.206.0.99/24", "dev", p3.Ifname)
	e.startInNS(c3, "ping", "-n", "-q", "-i", "0.05", "-c", "200", "-I", "10.206.0.99", p2.addr())
	time.Sleep(200 * time.Millisecond)

	r := d.ctl("top", "--interval", "1s", "--count", "2")
	if r.code != 0 {
		t.Fatalf("%v", r)
	}
	t.Logf("top --count 2:\n%s", r.stdout)
	if strings.Contains(r.stdout, "\x1b") {
		t.Errorf("escape codes in top's output to a pipe")
	}
	if n := strings.Count(r.stdout, "PORT "); n != 2 {
		t.Errorf("%d refreshes printed, want 2 (--count 2)", n)
	}
	// The last refresh's rows by port: PORT NETWORK RX-PKT/S RX-BYTES/S
	// TX-PKT/S TX-BYTES/S DROPS/S TOP-DROP.
	rows := map[string][]string{}
	for _, l := range strings.Split(r.stdout, "\n") {
		if f := strings.Fields(l); len(f) == 8 {
			rows[f[0]] = f
		}
	}
	rate := func(s string) float64 {
		mult := 1.0
		switch {
		case strings.HasSuffix(s, "k"):
			mult, s = 1e3, strings.TrimSuffix(s, "k")
		case strings.HasSuffix(s, "M"):
			mult, s = 1e6, strings.TrimSuffix(s, "M")
		}
		v, _ := strconv.ParseFloat(s, 64)
		return v * mult
	}
	if f := rows[p1.Name]; f == nil || rate(f[2]) < 5 {
		t.Errorf("row of %s (pinging 20/s): %v, want RX-PKT/S >= 5", p1.Name, f)
	}
	if f := rows[p2.Name]; f == nil || rate(f[4]) < 5 {
		t.Errorf("row of %s (pinged 20/s): %v, want TX-PKT/S >= 5", p2.Name, f)
	}
	if f := rows[p3.Name]; f == nil || rate(f[6]) < 5 || f[7] != "spoof" {
		t.Errorf("row of %s (spoofing 20/s): %v, want DROPS/S >= 5 and TOP-DROP spoof", p3.Name, f)
	}

	if !haveCmd("script") {
		t.Logf("no script(1): the terminal mode is not tested")
		return
	}
	cmd := exec.Command("script", "-qec", vswitchctlBin+" --socket "+d.sock+" top --interval 200ms", "/dev/null")
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1200 * time.Millisecond)
	in.Write([]byte("q"))
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("top on a terminal after q: %v\n%q", err, out.String())
		}
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("top on a terminal still runs 5 s after q:\n%q", out.String())
	}
	in.Close()
	if n := strings.Count(out.String(), "\x1b[H\x1b[2J"); n < 2 {
		t.Errorf("top on a terminal cleared the screen %d times in 1.2 s at 200ms, want several:\n%q", n, out.String())
	}
	if !strings.Contains(out.String(), "q quits") {
		t.Errorf("top on a terminal does not say q quits")
	}
}
