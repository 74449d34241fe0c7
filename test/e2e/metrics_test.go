package e2e

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"vswitch/internal/netns"
)

// nsHTTP is an HTTP client whose connections are made inside namespace ns:
// the test's vswitchd serves its metrics on loopback there, so the root
// namespace gets no listener of the test's.
func nsHTTP(ns string) *http.Client {
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := netns.Do(filepath.Join(netns.RunDir, ns), func() error {
			var err error
			c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: dial}}
}

type scrape map[string]*dto.MetricFamily

// scrapeMetrics GETs /metrics and parses it as Prometheus text: a parse
// error fails the test.
func scrapeMetrics(t *testing.T, hc *http.Client, addr string) scrape {
	t.Helper()
	resp, err := hc.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("scrape: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics is not valid Prometheus text: %v", err)
	}
	return fams
}

// value is the sample of family name whose labels include want (name=value
// pairs); ok false when there is none.
func (s scrape) value(name string, want ...string) (float64, bool) {
	f := s[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		labels := map[string]string{}
		for _, l := range m.Label {
			labels[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(want); i += 2 {
			if labels[want[i]] != want[i+1] {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

func (s scrape) must(t *testing.T, name string, want ...string) float64 {
	t.Helper()
	v, ok := s.value(name, want...)
	if !ok {
		t.Fatalf("no sample %s%v in /metrics", name, want)
	}
	return v
}

// The metrics endpoint serves valid Prometheus text with a help text for
// every family, and its counters move as traffic flows: packets and bytes
// per port, a spoof drop under its reason, FDB and ARP sizes, conntrack
// entries and the masquerade port held by a ping to the outside, and the
// pipeline latency histogram.
func TestMetricsMoveWithTraffic(t *testing.T) {
	e := newEnv(t)
	// vswitchd in a namespace of its own, serving metrics on its loopback.
	mon := e.newNS("mon")
	e.mustNS(mon, "ip", "link", "set", "lo", "up")
	addr, hc := "127.0.0.1:9464", nsHTTP(mon)
	d := e.startDaemonIn(mon, "", "--metrics-addr", addr)
	d.mustCtl("network", "create", "lan", "--subnet", "10.204.0.0/24")
	c1, c2 := e.newNS("c1"), e.newNS("c2")
	p1, p2 := d.addPort("lan", c1), d.addPort("lan", c2)
	e.outside(d)

	var before scrape
	for range 50 { // the listener comes up after the API socket
		if resp, err := hc.Get("http://" + addr + "/metrics"); err == nil {
			resp.Body.Close()
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	before = scrapeMetrics(t, hc, addr)
	for name, f := range before {
		if strings.TrimSpace(f.GetHelp()) == "" {
			t.Errorf("metric %s has no help text", name)
		}
	}
	for _, name := range []string{"vswitch_port_rx_packets_total", "vswitch_port_tx_bytes_total", "vswitch_port_drops_total",
		"vswitch_fdb_entries", "vswitch_arp_entries", "vswitch_conntrack_entries", "vswitch_conntrack_max",
		"vswitch_nat_port_range_ports", "vswitch_pipeline_batch_duration_seconds"} {
		if before[name] == nil {
			t.Errorf("no metric %s in /metrics", name)
		}
	}
	// Every drop reason is there from the start, at zero.
	if v := before.must(t, "vswitch_port_drops_total", "port", p1.Name, "reason", "spoof"); v != 0 {
		t.Errorf("spoof drops of %s before any spoofing: %v", p1.Name, v)
	}

	// Traffic: pings on the switch, a ping out through masquerade, and a
	// spoofed source that port security drops.
	e.mustPing(c1, p2.addr())
	if r := e.ping(c1, extIP, 3); r.code != 0 {
		t.Fatalf("ping to the outside through masquerade: %v", r)
	}
	e.mustNS(c1, "ip", "addr", "add", "10.204.0.77/24", "dev", p1.Ifname)
	e.inNS(c1, 10*time.Second, "ping", "-n", "-c", "3", "-i", "0.2", "-W", "1", "-I", "10.204.0.77", p2.addr())

	after := scrapeMetrics(t, hc, addr)
	delta := func(name string, labels ...string) float64 {
		t.Helper()
		return after.must(t, name, labels...) - before.must(t, name, labels...)
	}
	if dv := delta("vswitch_port_rx_packets_total", "port", p1.Name); dv < 10 {
		t.Errorf("rx_packets of %s went up by %v, want >= 10 (pings sent)", p1.Name, dv)
	}
	if dv := delta("vswitch_port_rx_bytes_total", "port", p1.Name); dv < 8*98 { // 8 echo requests of 98 bytes
		t.Errorf("rx_bytes of %s went up by %v, want >= %d", p1.Name, dv, 8*98)
	}
	if dv := delta("vswitch_port_tx_packets_total", "port", p2.Name); dv < 2 {
		t.Errorf("tx_packets of %s went up by %v, want >= 2", p2.Name, dv)
	}
	if dv := delta("vswitch_port_drops_total", "port", p1.Name, "reason", "spoof"); dv < 1 {
		t.Errorf("spoof drops of %s went up by %v, want >= 1", p1.Name, dv)
	}
	if v := after.must(t, "vswitch_fdb_entries", "network", "lan"); v < 2 {
		t.Errorf("fdb entries of lan: %v, want >= 2 (both containers learned)", v)
	}
	if v := after.must(t, "vswitch_arp_entries"); v < 1 {
		t.Errorf("arp entries: %v, want >= 1 (the outside gateway)", v)
	}
	if v := after.must(t, "vswitch_conntrack_entries"); v < 1 {
		t.Errorf("conntrack entries: %v, want >= 1 (the masqueraded ping)", v)
	}
	if dv := delta("vswitch_conntrack_created_total"); dv < 1 {
		t.Errorf("conntrack created went up by %v, want >= 1", dv)
	}
	if v := after.must(t, "vswitch_nat_ports_in_use", "proto", "icmp", "address", upIP); v < 1 {
		t.Errorf("masquerade ICMP ids held on %s: %v, want >= 1", upIP, v)
	}
	if dv := delta("vswitch_pipeline_batch_duration_seconds"); dv < 10 {
		t.Errorf("pipeline latency histogram counted %v more batches, want >= 10", dv)
	}
	h := after["vswitch_pipeline_batch_duration_seconds"].Metric[0].Histogram
	var prev uint64
	for _, b := range h.Bucket {
		if b.GetCumulativeCount() < prev {
			t.Errorf("histogram buckets not cumulative at le=%v", b.GetUpperBound())
		}
		prev = b.GetCumulativeCount()
	}
	if h.GetSampleSum() <= 0 || prev > h.GetSampleCount() {
		t.Errorf("histogram: sum %v, count %d, last bucket %d", h.GetSampleSum(), h.GetSampleCount(), prev)
	}
	t.Logf("batches %d, mean %.1f µs; %s rx +%v", h.GetSampleCount(), h.GetSampleSum()/float64(h.GetSampleCount())*1e6,
		p1.Name, delta("vswitch_port_rx_packets_total", "port", p1.Name))
}
