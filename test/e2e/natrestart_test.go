package e2e

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// A restart must not cut the network: iperf3 transfers through masquerade
// and through a published port run while vswitchd is killed (SIGKILL) and
// started again on the same state. The conntrack is gone with the process;
// the new one picks the running connections up mid-stream, and masquerade
// keeps their source ports, so both transfers finish and move data, the
// published rule and the uplink come back from the state file.
func TestNATFlowsSurviveRestart(t *testing.T) {
	if !haveCmd("iperf3") {
		t.Skip("needs iperf3 (apt-get install iperf3)")
	}
	e := newEnv(t)
	d := e.startDaemon("")
	ext := e.outside(d)
	c1 := bridgeWith(e, d, 1)[0]
	e.mustPing(c1, extIP)
	d.mustCtl("publish", "add", "bridge", "--proto", "tcp", "--port", "5402", "--to", cIP(1)+":5401")

	e.startInNS(ext, "iperf3", "-s", "-1", "-p", "5400")
	e.startInNS(c1, "iperf3", "-s", "-1", "-p", "5401")
	e.waitListen(ext, "tcp", 5400)
	e.waitListen(c1, "tcp", 5401)
	const secs = 8
	type run struct {
		name string
		r    result
	}
	results := make(chan run, 2)
	go func() {
		results <- run{"c1 -> host2 through masquerade", e.inNS(c1, 40*time.Second, "iperf3", "-c", extIP, "-p", "5400",
			"-t", fmt.Sprint(secs), "-J", "--connect-timeout", "3000")}
	}()
	go func() {
		results <- run{"host2 -> uplink:5402 -> c1:5401 through a published port", e.inNS(ext, 40*time.Second, "iperf3", "-c", upIP,
			"-p", "5402", "-t", fmt.Sprint(secs), "-J", "--connect-timeout", "3000")}
	}()

	time.Sleep(2 * time.Second)
	d.kill()
	time.Sleep(time.Second)
	d2 := e.startDaemon(d.stateDir)

	for range 2 {
		x := <-results
		var out struct {
			Error string `json:"error"`
			End   struct {
				SumReceived struct {
					Bytes   float64 `json:"bytes"`
					Seconds float64 `json:"seconds"`
				} `json:"sum_received"`
			} `json:"end"`
			Intervals []struct {
				Sum struct {
					Bytes float64 `json:"bytes"`
				} `json:"sum"`
			} `json:"intervals"`
		}
		if err := json.Unmarshal([]byte(x.r.stdout), &out); err != nil {
			t.Errorf("iperf3 %s: output not JSON (%v)\n%v", x.name, err, x.r)
			continue
		}
		if x.r.code != 0 || out.Error != "" || out.End.SumReceived.Bytes == 0 {
			t.Errorf("iperf3 %s did not finish across the restart (error %q):\n%v", x.name, out.Error, x.r)
			continue
		}
		// Data moved after the restart too: the last second's interval.
		if n := len(out.Intervals); n < secs || out.Intervals[n-1].Sum.Bytes == 0 {
			t.Errorf("iperf3 %s: nothing moved in its last second (%d intervals)", x.name, n)
		}
		t.Logf("iperf3 %s across a SIGKILL and restart: %.0f MB in %.1f s", x.name, out.End.SumReceived.Bytes/1e6, out.End.SumReceived.Seconds)
	}
	var pubs []publishRule
	d2.ctlJSON(&pubs, "publish", "ls")
	if len(pubs) != 1 || pubs[0].HostPort != 5402 {
		t.Errorf("publish ls after the restart: want the rule for port 5402, got %+v", pubs)
	}
	kept := false
	for _, c := range d2.conntrack() {
		if c.Orig.Src == cIP(1) && c.Orig.Dport == 5400 && c.Reply.Dst == upIP && c.Reply.Dport == c.Orig.Sport {
			kept = true
		}
	}
	if !kept {
		t.Errorf("after the restart no masqueraded conn of c1 -> host2:5400 kept its source port: %+v", d2.conntrack())
	}
}
