package harness

import (
	"strings"
	"testing"

	"vswitch/bench/report"
)

func TestEndpoints(t *testing.T) {
	for _, tc := range []struct {
		scn, client, server, dst string
		iperfPort                int
	}{
		{"l2", "c1", "c2", addrC2, portIperf},
		{"routed", "c1", "c3", addrC3, portIperf},
		{"nat-out", "c1", "ext", addrExt, portIperf},
		{"publish-in", "ext", "c1", uplinkIP, portIperf + publishOffset},
	} {
		e := endpointFor(tc.scn)
		if e.client != tc.client || e.server != tc.server || e.dst != tc.dst || e.port(portIperf) != tc.iperfPort {
			t.Errorf("%s: %+v", tc.scn, e)
		}
	}
	for _, s := range report.Scenarios {
		endpointFor(s) // every scenario of the report has an endpoint
	}
}

// The kernel side must publish exactly what the vswitch side publishes,
// masquerade only towards the uplink, and drop what Docker drops.
func TestDockerRules(t *testing.T) {
	r := dockerRules()
	for _, want := range []string{
		"-A POSTROUTING -s 10.201.1.0/24 -o v-ext -j MASQUERADE",
		"-A DOCKER -p tcp -m tcp --dport 15201 -j DNAT --to-destination 10.201.1.2:5201",
		"-A DOCKER -p tcp -m tcp --dport 21111 -j DNAT --to-destination 10.201.1.2:11111",
		"-A DOCKER -p tcp -m tcp --dport 17000 -j DNAT --to-destination 10.201.1.2:7000",
		"-A DOCKER -p udp -m udp --dport 19000 -j DNAT --to-destination 10.201.1.2:9000",
		":FORWARD DROP [0:0]",
		"-A FORWARD -o brA -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
		"-A DOCKER -d 10.201.1.2/32 ! -i brA -o brA -p udp -m udp --dport 9000 -j ACCEPT",
	} {
		if !strings.Contains(r, want+"\n") {
			t.Errorf("rules lack %q", want)
		}
	}
	if strings.Count(r, "COMMIT\n") != 2 {
		t.Error("want a nat and a filter table")
	}
	if len(published()) != 4 {
		t.Errorf("published %d ports, the scenarios use 4 (iperf3, sockperf, conn, udp)", len(published()))
	}
}

func TestMetricsOf(t *testing.T) {
	udp := Tests[2]
	if udp.Name != "udp64" {
		t.Fatalf("Tests[2] = %s", udp.Name)
	}
	if got := metricsOf(udp, true); len(got) != 1 || got[0] != "udp64_kpps" {
		t.Errorf("kernel udp64 metrics %v: cpu_per_pkt_ns is vswitch only", got)
	}
	if got := metricsOf(udp, false); len(got) != 2 {
		t.Errorf("vswitch udp64 metrics %v", got)
	}
	// every metric a test yields is in the report's catalog
	for _, tt := range Tests {
		for _, m := range tt.Metrics {
			if _, ok := report.MetricByName(m); !ok {
				t.Errorf("test %s yields %s, unknown to the report", tt.Name, m)
			}
		}
	}
}

func TestFailAll(t *testing.T) {
	topo := &Topology{Side: report.SideVswitch}
	got := failAll(topo, 1, "routed", Tests[3], report.StatusNotSupported, "network connect: unknown command")
	if len(got) != 2 {
		t.Fatalf("got %d samples", len(got))
	}
	for _, s := range got {
		if s.Value != nil || s.Status != report.StatusNotSupported || s.Error == "" || s.Pair != 1 || s.Side != report.SideVswitch {
			t.Errorf("failure sample %+v", s)
		}
	}
}

func TestLastJSON(t *testing.T) {
	if got := lastJSON("ready\n{\"a\":1}\n{\"b\":2}\n\n"); got != `{"b":2}` {
		t.Errorf("lastJSON = %q", got)
	}
	if got := lastJSON("ready\n"); got != "" {
		t.Errorf("lastJSON = %q", got)
	}
}

func TestPingFailure(t *testing.T) {
	out := "PING 10.201.100.2 (10.201.100.2) 56(84) bytes of data.\n\n--- 10.201.100.2 ping statistics ---\n1 packets transmitted, 0 received, 100% packet loss, time 0ms\n"
	if got := pingFailure(result{Stdout: out, Code: 1}); got != "100% packet loss" {
		t.Errorf("pingFailure = %q", got)
	}
	if got := pingFailure(result{Stderr: "ping: connect: Network is unreachable\n", Code: 2}); got != "ping: connect: Network is unreachable" {
		t.Errorf("pingFailure = %q", got)
	}
}

func TestSourceExpected(t *testing.T) {
	want := map[string]string{"l2": addrC1, "routed": addrC1, "nat-out": uplinkIP, "publish-in": addrExt}
	for scn, src := range want {
		if got := endpointFor(scn).src; got != src {
			t.Errorf("%s: server must see %s, endpoint says %s", scn, src, got)
		}
	}
	if err := CheckSource("nat-out", "ext", "10.201.100.1\n", uplinkIP); err != nil {
		t.Errorf("masqueraded source refused: %v", err)
	}
	err := CheckSource("nat-out", "ext", "10.201.1.2\n", uplinkIP)
	if err == nil || !strings.Contains(err.Error(), "saw source 10.201.1.2, want 10.201.100.1") {
		t.Errorf("unmasqueraded source: %v", err)
	}
	if err := CheckSource("publish-in", "c1", "10.201.100.1", addrExt); err == nil {
		t.Error("a published port that hides the client was accepted")
	}
	if err := CheckSource("l2", "c2", "", addrC1); err == nil {
		t.Error("an empty answer was accepted")
	}
}
