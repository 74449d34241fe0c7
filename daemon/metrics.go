package daemon

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics exposes the port counters to Prometheus, read at scrape time from
// the same atomics `vswitchctl stats` reads: nothing extra on the fast path.
type metrics struct{ d *Daemon }

var (
	mRxPackets = prometheus.NewDesc("vswitch_port_rx_packets_total", "Frames received on the port.", []string{"port", "network"}, nil)
	mRxBytes   = prometheus.NewDesc("vswitch_port_rx_bytes_total", "Bytes received on the port.", []string{"port", "network"}, nil)
	mTxPackets = prometheus.NewDesc("vswitch_port_tx_packets_total", "Frames sent on the port.", []string{"port", "network"}, nil)
	mTxBytes   = prometheus.NewDesc("vswitch_port_tx_bytes_total", "Bytes sent on the port.", []string{"port", "network"}, nil)
	mRxGSO     = prometheus.NewDesc("vswitch_port_rx_gso_packets_total", "GSO super-frames received on the port.", []string{"port", "network"}, nil)
	mTxGSO     = prometheus.NewDesc("vswitch_port_tx_gso_packets_total", "GSO super-frames sent on the port.", []string{"port", "network"}, nil)
	mDrops     = prometheus.NewDesc("vswitch_port_drops_total", "Frames dropped, by reason.", []string{"port", "network", "reason"}, nil)

	mCTEntries    = prometheus.NewDesc("vswitch_conntrack_entries", "Connections in the table (expired ones not yet swept included).", nil, nil)
	mCTMax        = prometheus.NewDesc("vswitch_conntrack_max", "Most connections the table holds (--conntrack-max).", nil, nil)
	mCTCreated    = prometheus.NewDesc("vswitch_conntrack_created_total", "Connections tracked.", nil, nil)
	mCTExpired    = prometheus.NewDesc("vswitch_conntrack_expired_total", "Connections that timed out.", nil, nil)
	mCTEarlyDrops = prometheus.NewDesc("vswitch_conntrack_early_drops_total", "Unanswered connections evicted to make room for new ones, as Linux's early_drop.", nil, nil)
	mACLHits      = prometheus.NewDesc("vswitch_acl_hits_total", "Flows an ACL rule decided.", []string{"network", "id", "action"}, nil)
)

func (m metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{mRxPackets, mRxBytes, mTxPackets, mTxBytes, mRxGSO, mTxGSO, mDrops,
		mCTEntries, mCTMax, mCTCreated, mCTExpired, mCTEarlyDrops, mACLHits} {
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
		for reason, v := range p.Drops {
			c(mDrops, v, reason)
		}
	}
	m.collectNAT(ch)
}

// collectNAT adds the connection table's figures and the ACL rules' hits.
func (m metrics) collectNAT(ch chan<- prometheus.Metric) {
	ct := m.d.dp.Conntrack()
	st := ct.Stats()
	ch <- prometheus.MustNewConstMetric(mCTEntries, prometheus.GaugeValue, float64(st.Conns))
	ch <- prometheus.MustNewConstMetric(mCTMax, prometheus.GaugeValue, float64(ct.Max()))
	ch <- prometheus.MustNewConstMetric(mCTCreated, prometheus.CounterValue, float64(st.Created))
	ch <- prometheus.MustNewConstMetric(mCTExpired, prometheus.CounterValue, float64(st.Expired))
	ch <- prometheus.MustNewConstMetric(mCTEarlyDrops, prometheus.CounterValue, float64(st.EarlyDrops))
	rules, _ := m.d.ACLs("")
	for _, r := range rules {
		ch <- prometheus.MustNewConstMetric(mACLHits, prometheus.CounterValue, float64(r.Hits), r.Network, strconv.Itoa(r.ID), r.Action)
	}
}

// Registry returns a Prometheus registry with the daemon's metrics.
func (d *Daemon) Registry() *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(metrics{d})
	return r
}
