package daemon

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"vswitch/dataplane"
	"vswitch/nat"
)

// metrics exposes the daemon to Prometheus (--metrics-addr), read at scrape
// time from the same atomics and tables `vswitchctl stats`, `fdb show`,
// `arp show` and `conntrack show` read: nothing extra on the fast path but
// the pipeline latency histogram's two clock reads per batch
// (dataplane/latency.go). docs/cli.md lists every metric.
type metrics struct{ d *Daemon }

var (
	portLabels = []string{"port", "network"}

	mRxPackets = prometheus.NewDesc("vswitch_port_rx_packets_total", "Frames received on the port (a GSO super-frame counts once).", portLabels, nil)
	mRxBytes   = prometheus.NewDesc("vswitch_port_rx_bytes_total", "Bytes received on the port (Ethernet frames, no virtio header).", portLabels, nil)
	mTxPackets = prometheus.NewDesc("vswitch_port_tx_packets_total", "Frames sent on the port (a GSO super-frame counts once).", portLabels, nil)
	mTxBytes   = prometheus.NewDesc("vswitch_port_tx_bytes_total", "Bytes sent on the port.", portLabels, nil)
	mRxGSO     = prometheus.NewDesc("vswitch_port_rx_gso_packets_total", "GSO super-frames received on the port.", portLabels, nil)
	mTxGSO     = prometheus.NewDesc("vswitch_port_tx_gso_packets_total", "GSO super-frames sent on the port.", portLabels, nil)
	mDrops     = prometheus.NewDesc("vswitch_port_drops_total", "Frames dropped, by reason (at the ingress port; tx-error at the egress). Every reason is exported, zeros included.", []string{"port", "network", "reason"}, nil)
	mDropsDP   = prometheus.NewDesc("vswitch_drops_total", "Frames dropped that belong to no port (the router's own frames), by reason.", []string{"reason"}, nil)

	mFDBEntries = prometheus.NewDesc("vswitch_fdb_entries", "MAC addresses in the network's forwarding database (learned and static).", []string{"network"}, nil)
	mARPEntries = prometheus.NewDesc("vswitch_arp_entries", "Neighbours in the router's ARP table (every state).", nil, nil)

	// The IPv4 and the IPv6 connection tables (nat.Table, nat.Table6) are
	// two tables, each with its own --conntrack-max: one series each,
	// told apart by family.
	mCTEntries    = prometheus.NewDesc("vswitch_conntrack_entries", "Connections in the table of the family (expired ones not yet swept included).", ctLabels, nil)
	mCTMax        = prometheus.NewDesc("vswitch_conntrack_max", "Most connections the table of the family holds (--conntrack-max, each).", ctLabels, nil)
	mCTCreated    = prometheus.NewDesc("vswitch_conntrack_created_total", "Connections tracked.", ctLabels, nil)
	mCTExpired    = prometheus.NewDesc("vswitch_conntrack_expired_total", "Connections that timed out.", ctLabels, nil)
	mCTEarlyDrops = prometheus.NewDesc("vswitch_conntrack_early_drops_total", "Unanswered connections evicted to make room for new ones, as Linux's early_drop.", ctLabels, nil)
	mCTRefused    = prometheus.NewDesc("vswitch_conntrack_refused_total", "New connections the table refused, by reason: full, nat-ports (no free NAT port), clash, invalid (TCP flags that open nothing).", []string{"family", "reason"}, nil)

	mNATPortsUsed  = prometheus.NewDesc("vswitch_nat_ports_in_use", "Masquerade ports (ICMP: echo ids) held by live connections, by protocol and external address.", []string{"proto", "address"}, nil)
	mNATPortsRange = prometheus.NewDesc("vswitch_nat_port_range_ports", "Ports in the range masquerade takes a port from when a flow's own is taken (--nat-ports).", nil, nil)

	mACLHits = prometheus.NewDesc("vswitch_acl_hits_total", "Flows an ACL rule decided.", []string{"network", "id", "action"}, nil)

	mBatchLatency = prometheus.NewDesc("vswitch_pipeline_batch_duration_seconds", "Time a worker takes to forward one read batch (every frame decided, every egress written), all workers.", nil, nil)
)

func (m metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{mRxPackets, mRxBytes, mTxPackets, mTxBytes, mRxGSO, mTxGSO, mDrops, mDropsDP,
		mFDBEntries, mARPEntries, mCTEntries, mCTMax, mCTCreated, mCTExpired, mCTEarlyDrops, mCTRefused,
		mNATPortsUsed, mNATPortsRange, mACLHits, mBatchLatency} {
		ch <- d
	}
}

func (m metrics) Collect(ch chan<- prometheus.Metric) {
	st, _ := m.d.Stats("")
	for _, p := range st.Ports {
		c := func(d *prometheus.Desc, v uint64, extra ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), append([]string{p.Name, p.Network}, extra...)...)
		}
		c(mRxPackets, p.RxPackets)
		c(mRxBytes, p.RxBytes)
		c(mTxPackets, p.TxPackets)
		c(mTxBytes, p.TxBytes)
		c(mRxGSO, p.RxGSO)
		c(mTxGSO, p.TxGSO)
		// Zeros too: a rate over a series that appears at its first drop
		// misses that drop.
		for r := dataplane.DropReason(1); r < dataplane.NumDropReasons; r++ {
			c(mDrops, p.Drops[r.String()], r.String())
		}
		// A VXLAN tunnel's own reasons (vxlan.go), once they are counted.
		for reason, v := range p.Drops {
			if strings.HasPrefix(reason, "vxlan-") {
				c(mDrops, v, reason)
			}
		}
	}
	for reason, v := range m.d.dp.Drops() {
		ch <- prometheus.MustNewConstMetric(mDropsDP, prometheus.CounterValue, float64(v), reason)
	}
	m.collectTables(ch)
	m.collectNAT(ch)
	m.collectLatency(ch)
}

// collectTables adds the FDB sizes by network and the ARP table's.
func (m metrics) collectTables(ch chan<- prometheus.Metric) {
	m.d.mu.Lock()
	type netFDB struct {
		name string
		id   uint16
	}
	nets := make([]netFDB, 0, len(m.d.nets))
	for name, n := range m.d.nets {
		nets = append(nets, netFDB{name, n.id})
	}
	m.d.mu.Unlock()
	for _, n := range nets {
		if t := m.d.dp.FDB(n.id); t != nil {
			ch <- prometheus.MustNewConstMetric(mFDBEntries, prometheus.GaugeValue, float64(t.Len()), n.name)
		}
	}
	ch <- prometheus.MustNewConstMetric(mARPEntries, prometheus.GaugeValue, float64(m.d.dp.ARP().Len()))
}

// collectNAT adds the connection table's figures, masquerade's port use
// and the ACL rules' hits.
func (m metrics) collectNAT(ch chan<- prometheus.Metric) {
	ct, ct6 := m.d.dp.Conntrack(), m.d.dp.Conntrack6()
	ctStats(ch, "ipv4", ct.Stats(), ct.Max())
	ctStats(ch, "ipv6", ct6.Stats(), ct6.Max())

	// A masqueraded conn holds the port its reply comes back to: the
	// reply tuple's destination (for IPv6 masquerade, NAT66, a port of the
	// uplink's IPv6 address). Counted at scrape time over a copy of each
	// table (one lock of its writers' mutex per scrape, as conntrack show).
	type ext struct {
		proto uint8
		addr  netip.Addr
	}
	used := map[ext]map[uint16]struct{}{}
	hold := func(k ext, port uint16) {
		if used[k] == nil {
			used[k] = map[uint16]struct{}{}
		}
		used[k][port] = struct{}{}
	}
	now := m.d.opts.Now().UnixNano()
	for _, e := range ct.Entries(now) {
		if e.NAT&nat.SNAT != 0 {
			hold(ext{e.Reply.Proto, netip.AddrFrom4(e.Reply.Dst)}, e.Reply.DPort)
		}
	}
	for _, e := range ct6.Entries(now) {
		if e.NAT&nat.SNAT != 0 {
			hold(ext{e.Reply.Proto, netip.AddrFrom16(e.Reply.Dst)}, e.Reply.DPort)
		}
	}
	for k, ports := range used {
		ch <- prometheus.MustNewConstMetric(mNATPortsUsed, prometheus.GaugeValue, float64(len(ports)),
			nat.ProtoName(k.proto), k.addr.String())
	}
	lo, hi := m.d.opts.NATPortMin, m.d.opts.NATPortMax
	if lo == 0 && hi == 0 {
		lo, hi = 1024, 65535 // package nat's default
	}
	ch <- prometheus.MustNewConstMetric(mNATPortsRange, prometheus.GaugeValue, float64(int(hi)-int(lo)+1))

	rules, _ := m.d.ACLs("")
	for _, r := range rules {
		ch <- prometheus.MustNewConstMetric(mACLHits, prometheus.CounterValue, float64(r.Hits), r.Network, strconv.Itoa(r.ID), r.Action)
	}
}

// collectLatency exports the workers' batch latency buckets as one
// histogram.
func (m metrics) collectLatency(ch chan<- prometheus.Metric) {
	bounds, counts, sum := m.d.dp.BatchLatency()
	buckets := make(map[float64]uint64, len(bounds))
	var cum uint64
	for i, b := range bounds {
		cum += counts[i]
		buckets[b] = cum
	}
	total := cum + counts[len(bounds)]
	ch <- prometheus.MustNewConstHistogram(mBatchLatency, total, sum, buckets)
}

// Registry returns a Prometheus registry with the daemon's metrics.
func (d *Daemon) Registry() *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(metrics{d})
	return r
}

// ctLabels tell the two connection tables apart.
var ctLabels = []string{"family"}

// ctStats sends one connection table's figures.
func ctStats(ch chan<- prometheus.Metric, family string, st nat.Stats, max int) {
	ch <- prometheus.MustNewConstMetric(mCTEntries, prometheus.GaugeValue, float64(st.Conns), family)
	ch <- prometheus.MustNewConstMetric(mCTMax, prometheus.GaugeValue, float64(max), family)
	ch <- prometheus.MustNewConstMetric(mCTCreated, prometheus.CounterValue, float64(st.Created), family)
	ch <- prometheus.MustNewConstMetric(mCTExpired, prometheus.CounterValue, float64(st.Expired), family)
	ch <- prometheus.MustNewConstMetric(mCTEarlyDrops, prometheus.CounterValue, float64(st.EarlyDrops), family)
	for reason, v := range map[string]uint64{"full": st.Full, "nat-ports": st.PortsExhausted, "clash": st.Clashes, "invalid": st.Invalid} {
		ch <- prometheus.MustNewConstMetric(mCTRefused, prometheus.CounterValue, float64(v), family, reason)
	}
}
