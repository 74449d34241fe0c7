package daemon

import (
	"vswitch/api"
	"vswitch/dataplane"
)

// Ingress policing of a port (`port set PORT --rate MBIT --burst KB`,
// dataplane/police.go): validated here, kept in the port's state, handed to
// the dataplane whenever the port is plugged in.

const (
	maxRateMbit = dataplane.MaxPoliceRate / 1e6
	minBurstKB  = dataplane.MinPoliceBurst / 1024
	maxBurstKB  = dataplane.MaxPoliceBurst / 1024
)

func policeConfig(c *PortState) dataplane.PoliceConfig {
	return dataplane.PoliceConfig{RateBps: uint64(c.IngressRateMbit) * 1e6, BurstBytes: uint64(c.IngressBurstKB) * 1024}
}

func policeView(c *PortState, v *api.Port) {
	if c.IngressRateMbit > 0 {
		v.IngressRateMbit, v.IngressBurstKB = c.IngressRateMbit, c.IngressBurstKB
		if v.IngressBurstKB == 0 {
			v.IngressBurstKB = int(dataplane.DefaultPoliceBurst(uint64(c.IngressRateMbit)*1e6) / 1024)
		}
	}
}

// SetPort changes a port's settings: for now its ingress policing.
func (d *Daemon) SetPort(name string, req api.PortSet) (api.Port, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	rt, ok := d.ports[name]
	if !ok {
		if d.uplinks[name] != nil {
			return api.Port{}, badRequest("%s is an uplink: only ports can be policed", name)
		}
		return api.Port{}, notFound("no port %s: 'vswitchctl port ls' lists them", name)
	}
	if req.IngressRateMbit == nil && req.IngressBurstKB == nil {
		return api.Port{}, badRequest("nothing to set: pass --rate MBIT (and --burst KB)")
	}
	next := *rt.cfg
	if r := req.IngressRateMbit; r != nil {
		if *r < 0 || *r > maxRateMbit {
			return api.Port{}, badRequest("bad --rate %d: want 1 to %d Mbit/s, or 0 to remove the limit", *r, int(maxRateMbit))
		}
		next.IngressRateMbit = *r
		if *r == 0 {
			next.IngressBurstKB = 0
		}
	}
	if b := req.IngressBurstKB; b != nil {
		switch {
		case next.IngressRateMbit == 0 && req.IngressRateMbit != nil:
			return api.Port{}, badRequest("--rate 0 removes the limit and takes no --burst")
		case next.IngressRateMbit == 0:
			return api.Port{}, badRequest("port %s has no ingress rate: give --rate MBIT with --burst", name)
		case *b < minBurstKB || *b > maxBurstKB:
			return api.Port{}, badRequest("bad --burst %d: want %d KB (one 64 KiB GSO super-frame) to %d KB", *b, minBurstKB, maxBurstKB)
		}
		next.IngressBurstKB = *b
	}
	if rt.io != nil {
		if err := d.dp.SetPolice(rt.idx, policeConfig(&next)); err != nil {
			return api.Port{}, badRequest("%v", err)
		}
	}
	prev := *rt.cfg
	*rt.cfg = next
	if err := d.st.save(d.opts.StateDir); err != nil {
		*rt.cfg = prev
		if rt.io != nil {
			d.dp.SetPolice(rt.idx, policeConfig(&prev))
		}
		return api.Port{}, err
	}
	d.log.Info("port set", "port", name, "ingress_rate_mbit", next.IngressRateMbit, "ingress_burst_kb", next.IngressBurstKB)
	return d.portViewLocked(rt), nil
}
