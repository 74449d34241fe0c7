package daemon

import (
	"sort"

	"vswitch/api"
	"vswitch/dataplane"
)

// Per-port counters and drops by reason, as `stats` and /metrics show them.

// Stats returns counters of every port (or of one).
func (d *Daemon) Stats(portName string) (api.Stats, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := statsView{api.Stats{Ports: []api.PortStats{}, Drops: map[string]uint64{}}}
	if portName != "" {
		if _, ok := d.ports[portName]; !ok && d.uplinks[portName] == nil {
			return out.Stats, notFound("no port %s: 'vswitchctl port ls' lists them", portName)
		}
	}
	names := make([]string, 0, len(d.ports))
	for n := range d.ports {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		rt := d.ports[n]
		if portName != "" && n != portName {
			continue
		}
		var st *dataplane.PortStats
		if rt.io != nil {
			st = d.dp.PortStats(rt.idx)
		}
		out.addPort(n, rt.cfg.Network, st)
		if rt.io != nil && rt.cfg.Kind == "vxlan" {
			out.addDrops(len(out.Ports)-1, rt)
		}
	}
	for _, u := range d.uplinkPortsLocked() {
		rt := d.uplinks[u.Name]
		if portName != "" && u.Name != portName {
			continue
		}
		var st *dataplane.PortStats
		if rt.io != nil {
			st = d.dp.PortStats(rt.idx)
		}
		out.addPort(u.Name, "", st)
	}
	if portName == "" {
		for k, v := range d.dp.Drops() {
			out.Drops[k] += v
		}
	}
	return out.Stats, nil
}

// addDrops adds a tunnel port's own drops (vxlan.go) to row i and the totals.
func (v *statsView) addDrops(i int, rt *portRT) {
	own := map[string]uint64{}
	vxlanDrops(rt, own)
	for k, n := range own {
		v.Ports[i].Drops[k] += n
		v.Drops[k] += n
	}
}

// statsView builds the `stats` object.
type statsView struct{ api.Stats }

// addPort adds one port's row (zeros for a port that is down, st nil) and
// its drops to the totals.
func (v *statsView) addPort(name, network string, st *dataplane.PortStats) {
	ps := api.PortStats{Name: name, Network: network, Drops: map[string]uint64{}}
	if st != nil {
		ps.RxPackets, ps.RxBytes, ps.RxGSO = st.RxPackets.Load(), st.RxBytes.Load(), st.RxGSO.Load()
		ps.TxPackets, ps.TxBytes, ps.TxGSO = st.TxPackets.Load(), st.TxBytes.Load(), st.TxGSO.Load()
		ps.Drops = st.DropMap()
		for k, n := range ps.Drops {
			v.Drops[k] += n
		}
	}
	v.Ports = append(v.Ports, ps)
}
