package daemon

import (
	"net/netip"

	"vswitch/api"
)

// IPv6 out of the switch (issue 14): the uplink's IPv6 address and default
// route (`uplink add --ip6 --gateway6`) and masquerade of a network's IPv6
// (`network create --ipv6 --nat66`). The dataplane does the translation
// (dataplane/nat6.go); this file validates the options.
//
// NAT66 is off by default, as Docker's is (ip6tables without NAT66: the
// network's prefix is routed, and the outside needs a route to it via the
// uplink's IPv6 address). Either way flows from inside to the uplink are
// tracked, so only their answers and published ports come in.

// nat66OptionLocked checks --nat66 and sets it on ns (after ipv6OptionsLocked).
func nat66OptionLocked(ns *NetworkState, req api.NetworkCreate) error {
	if !req.NAT66 {
		return nil
	}
	if !ns.Subnet6.IsValid() {
		return badRequest("--nat66 needs --ipv6 --subnet6 PREFIX/64: there is no IPv6 to masquerade")
	}
	if ns.Internal {
		return badRequest("--nat66 and --internal do not go together: an internal network has no way out")
	}
	ns.NAT66 = true
	return nil
}

// uplink6OptionsLocked checks --ip6 and --gateway6 of `uplink add`: an IPv6
// address with its prefix, not overlapping a network's or another uplink's
// prefix, and a next hop on it; only one uplink has the IPv6 default route.
func (d *Daemon) uplink6OptionsLocked(req api.UplinkAdd) (netip.Prefix, netip.Addr, error) {
	var ip6 netip.Prefix
	var gw6 netip.Addr
	if req.IP6 == "" {
		if req.Gateway6 != "" {
			return ip6, gw6, badRequest("--gateway6 needs --ip6 ADDR/PLEN: the uplink has no IPv6 address to reach it from")
		}
		return ip6, gw6, nil
	}
	ip6, err := netip.ParsePrefix(req.IP6)
	a := ip6.Addr()
	if err != nil || !a.Is6() || a.Is4In6() || a.Zone() != "" || ip6.Bits() < 1 || ip6.Bits() > 127 {
		return ip6, gw6, badRequest("bad --ip6 %q: want the uplink's IPv6 address with its prefix, like 2001:db8:12::15/64", req.IP6)
	}
	if a.IsLinkLocalUnicast() || a.IsMulticast() || a.IsLoopback() || a.IsUnspecified() || a == ip6.Masked().Addr() {
		return ip6, gw6, badRequest("--ip6 %s is not a global or unique-local host address: give one like 2001:db8:12::15/64", ip6)
	}
	for _, n := range d.st.Networks {
		if n.Subnet6.IsValid() && n.Subnet6.Overlaps(ip6.Masked()) {
			return ip6, gw6, conflict("uplink prefix %s overlaps network %s (%s)", ip6.Masked(), n.Name, n.Subnet6)
		}
	}
	for _, r := range d.st.Routes {
		if r.Prefix == ip6.Masked() {
			return ip6, gw6, conflict("a static route for %s exists: 'route del %s' first", r.Prefix, r.Prefix)
		}
	}
	for _, u := range d.st.Uplinks {
		if u.IP6.IsValid() && u.IP6.Masked().Overlaps(ip6.Masked()) {
			return ip6, gw6, conflict("uplink prefix %s overlaps uplink %s (%s)", ip6.Masked(), u.Name, u.IP6)
		}
		if req.Gateway6 != "" && u.Gateway6.IsValid() {
			return ip6, gw6, conflict("uplink %s already has the IPv6 default route via %s: add this one without --gateway6", u.Name, u.Gateway6)
		}
	}
	if req.Gateway6 != "" {
		if gw6, err = netip.ParseAddr(req.Gateway6); err != nil || !gw6.Is6() || gw6.Zone() != "" || !ip6.Masked().Contains(gw6) || gw6 == a {
			return ip6, gw6, badRequest("bad --gateway6 %q: want an IPv6 address inside %s other than the uplink's own", req.Gateway6, ip6.Masked())
		}
		for _, r := range d.st.Routes {
			if r.Prefix.Bits() == 0 && r.Prefix.Addr().Is6() {
				return ip6, gw6, conflict("a static IPv6 default route exists: 'route del ::/0' first")
			}
		}
	}
	return ip6, gw6, nil
}
