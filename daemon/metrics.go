package daemon

import (
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
)

func (m metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{mRxPackets, mRxBytes, mTxPackets, mTxBytes, mRxGSO, mTxGSO, mDrops} {
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
}

// Registry returns a Prometheus registry with the daemon's metrics.
func (d *Daemon) Registry() *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(metrics{d})
	return r
}
