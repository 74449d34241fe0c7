package daemon

import (
	"net/netip"
	"strings"

	"vswitch/api"
	"vswitch/dataplane"
	"vswitch/header"
)

// The ingress guard's options (dataplane/guard.go): port security, storm
// limit and conn-rate, stored per network and per port. Port security
// covers the port's IPv4 and IPv6 addresses (dataplane/guard6.go: RA guard,
// neighbour advertisements for its own addresses only).

// guardOptions validates a network's guard flags into its state.
func guardOptions(ns *NetworkState, req api.NetworkCreate) error {
	if req.PortSecurity != nil {
		ns.NoPortSecurity = !*req.PortSecurity
	}
	if req.StormLimit < 0 || req.StormLimit > 100_000_000 {
		return badRequest("bad --storm-limit %d: want 0 (off) to 100000000 frames per second", req.StormLimit)
	}
	if req.ConnRate < 0 || req.ConnRate > 100_000_000 {
		return badRequest("bad --conn-rate %d: want 0 (off) to 100000000 connections per second", req.ConnRate)
	}
	ns.StormLimit, ns.ConnRate = req.StormLimit, req.ConnRate
	return nil
}

// parseAllowedIPs reads --allowed-ips: IPv4 and IPv6 CIDRs (commas inside
// one element are split too, as the flag may arrive either way).
func parseAllowedIPs(in []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, e := range in {
		for _, s := range strings.Split(e, ",") {
			s = strings.TrimSpace(s)
			if s == "" {
				continue
			}
			p, err := netip.ParsePrefix(s)
			if err != nil || p.Addr().Is4In6() || p.Addr().Zone() != "" {
				return nil, badRequest("bad --allowed-ips entry %q: want IPv4 or IPv6 CIDRs like 10.0.0.0/8,fd00:1::/64", s)
			}
			out = append(out, p.Masked())
		}
	}
	return out, nil
}

// portSecure says whether port security is on for a port: its own setting,
// else the network's for a TAP; attached interfaces carry foreign MACs
// (a bridge, a VM behind them), so they default to off.
func portSecure(c *PortState, n *NetworkState) bool {
	if c.PortSecurity != nil {
		return *c.PortSecurity
	}
	return c.Kind == "tap" && !n.NoPortSecurity
}

func guardConfig(c *PortState, n *NetworkState) dataplane.GuardConfig {
	if c.Kind == "vxlan" {
		// The tunnel carries whole remote hosts: no guard meant for one
		// container applies to it (vxlan.go).
		return dataplane.GuardConfig{}
	}
	mac, _ := header.ParseMAC(c.MAC)
	g := dataplane.GuardConfig{PortSecurity: portSecure(c, n), MAC: mac, Allowed: c.AllowedIPs,
		StormPPS: n.StormLimit, ConnRate: n.ConnRate}
	if c.IP.IsValid() {
		g.IP = c.IP.Addr()
	}
	if c.IP6.IsValid() {
		g.IP6 = c.IP6.Addr() // its link-local address the dataplane derives from the MAC
	}
	return g
}

func (d *Daemon) guardViewLocked(c *PortState, v *api.Port) {
	if n, ok := d.nets[c.Network]; ok {
		v.PortSecurity = portSecure(c, n.cfg)
	}
	for _, p := range c.AllowedIPs {
		v.AllowedIPs = append(v.AllowedIPs, p.String())
	}
}
