package daemon

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"

	"vswitch/api"
	"vswitch/dataplane"
	"vswitch/header"
	"vswitch/internal/netns"
)

// IPv6 inside a network (issue 14, first part): the network's /64 and its
// gateway's addresses, IPAM for the ports' IPv6 addresses, and what a TAP
// needs in its namespace for them. The gateway's ND, echo and router
// advertisements are the dataplane's (dataplane/nd.go); each network's
// prefix is a connected route, so IPv6 is routed between networks
// (dataplane/route6.go) under the same isolation as IPv4, and `route add`
// takes IPv6 prefixes via IPv6 next hops (l3.go).

// raLifetime is the router lifetime the gateway's advertisements carry
// (RFC 4861 6.2.1's default, 3 x 600 s): hosts keep it as a default router.
const raLifetime = 1800

// ipv6OptionsLocked checks --ipv6, --subnet6 and --gateway6 and sets them
// on ns.
func (d *Daemon) ipv6OptionsLocked(ns *NetworkState, req api.NetworkCreate) error {
	if !req.IPv6 {
		if req.Subnet6 != "" || req.Gateway6 != "" {
			return badRequest("--subnet6 and --gateway6 need --ipv6: add it to make the network dual-stack")
		}
		return nil
	}
	if ns.MTU < 1280 {
		return badRequest("MTU %d is too small for IPv6, which needs 1280 at least (RFC 8200 5): raise --mtu or leave out --ipv6", ns.MTU)
	}
	if req.Subnet6 == "" {
		return badRequest("--ipv6 needs --subnet6 PREFIX/64, e.g. fd00:1::/64: vswitchd does not pick an IPv6 prefix")
	}
	p, err := netip.ParsePrefix(req.Subnet6)
	if err != nil || !p.Addr().Is6() || p.Addr().Is4In6() {
		return badRequest("bad --subnet6 %q: want an IPv6 prefix like fd00:1::/64", req.Subnet6)
	}
	if p.Bits() != 64 {
		return badRequest("--subnet6 %s: the prefix length must be 64 for now (hosts and router advertisements assume a /64)", p)
	}
	if p != p.Masked() {
		return badRequest("--subnet6 %s has host bits set: did you mean %s?", p, p.Masked())
	}
	if p.Addr().IsMulticast() || p.Addr().IsLinkLocalUnicast() || p.Addr().IsLoopback() {
		return badRequest("--subnet6 %s is not a unicast global or unique-local prefix: pick one like fd00:1::/64", p)
	}
	for _, o := range d.st.Networks {
		if o.Subnet6.IsValid() && o.Subnet6.Overlaps(p) {
			return conflict("--subnet6 %s overlaps %s of network %s: pick a prefix that does not", p, o.Subnet6, o.Name)
		}
	}
	gw := p.Addr().Next()
	if req.Gateway6 != "" {
		if gw, err = netip.ParseAddr(req.Gateway6); err != nil || !gw.Is6() || gw.Is4In6() || gw.Zone() != "" {
			return badRequest("bad --gateway6 %q: want an IPv6 address inside %s", req.Gateway6, p)
		}
		if err := checkHostAddr6(p, gw); err != nil {
			return badRequest("--gateway6: %v", err)
		}
	}
	ns.Subnet6, ns.Gateway6 = p, gw
	return nil
}

// checkHostAddr6 says whether a may be given to a host of prefix p: inside
// it, and not its subnet-router anycast address (the prefix itself, RFC
// 4291 2.6.1).
func checkHostAddr6(p netip.Prefix, a netip.Addr) error {
	if !a.Is6() || a.Is4In6() || !p.Contains(a) {
		return fmt.Errorf("address %s is outside the network's prefix %s: pick one inside it or use --ip6 auto", a, p)
	}
	if a == p.Addr() {
		return fmt.Errorf("address %s is the prefix's subnet-router anycast address: pick a host address", a)
	}
	return nil
}

// portIP6Locked resolves --ip6 for a port of n: "" or "auto" takes the
// lowest free address after the gateway's; an address (bare, or /64) is
// checked. A network without IPv6 takes none.
func (d *Daemon) portIP6Locked(n *NetworkState, s string) (netip.Prefix, error) {
	if !n.Subnet6.IsValid() {
		if s != "" && s != "auto" {
			return netip.Prefix{}, badRequest("network %s has no IPv6: --ip6 needs a network made with --ipv6 --subnet6 PREFIX/64", n.Name)
		}
		return netip.Prefix{}, nil
	}
	used := map[netip.Addr]bool{n.Gateway6: true}
	for _, p := range d.st.Ports {
		if p.Network == n.Name && p.IP6.IsValid() {
			used[p.IP6.Addr()] = true
		}
	}
	if s == "" || s == "auto" {
		// A /64 never runs out: the scan stops at the first gap.
		for a := n.Subnet6.Addr().Next(); n.Subnet6.Contains(a); a = a.Next() {
			if !used[a] {
				return netip.PrefixFrom(a, 64), nil
			}
		}
		return netip.Prefix{}, conflict("prefix %s has no free address left", n.Subnet6)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		p, perr := netip.ParsePrefix(s)
		if perr != nil || p.Bits() != 64 {
			return netip.Prefix{}, badRequest("bad --ip6 %q: want an IPv6 address (or ADDR/64) inside %s, or auto", s, n.Subnet6)
		}
		a = p.Addr()
	}
	if err := checkHostAddr6(n.Subnet6, a); err != nil {
		return netip.Prefix{}, badRequest("%v", err)
	}
	if a == n.Gateway6 {
		return netip.Prefix{}, conflict("address %s is the IPv6 gateway of network %s: pick another or use --ip6 auto", a, n.Name)
	}
	if used[a] {
		return netip.Prefix{}, conflict("address %s is in use on network %s: pick another or use --ip6 auto", a, n.Name)
	}
	return netip.PrefixFrom(a, 64), nil
}

// gatewayLL is the gateway's link-local address: fe80:: and the modified
// EUI-64 of its MAC, which never changes.
func gatewayLL(n *NetworkState) netip.Addr {
	mac, err := header.ParseMAC(n.GatewayMAC)
	if err != nil {
		return netip.Addr{}
	}
	return header.LinkLocalFromMAC(mac)
}

// setIPv6Sysctls writes IPv6 settings of interface ifname inside the
// namespace nsPath: the files under /proc/sys/net belong to the network
// namespace of the thread that opens them, so they are opened on a thread
// inside the container's namespace (netns.Do), never in vswitchd's own. An
// empty path is refused for that reason.
func setIPv6Sysctls(nsPath, ifname string, kv map[string]string) error {
	if nsPath == "" {
		return errors.New("refusing to change IPv6 settings outside a container namespace")
	}
	return netns.Do(nsPath, func() error {
		for k, v := range kv {
			p := filepath.Join("/proc/sys/net/ipv6/conf", ifname, k)
			if err := os.WriteFile(p, []byte(v), 0); err != nil {
				return fmt.Errorf("cannot set %s=%s for %s in %s: %v", k, v, ifname, nsPath, err)
			}
		}
		return nil
	})
}

// traceSpec6Locked is traceSpecLocked for an IPv6 --dst: an ICMPv6 echo
// request (--proto icmp, icmpv6 or none), or a neighbour solicitation for
// dst (--proto nd), from the port's IPv6 address (its link-local one to a
// link-local dst).
func (d *Daemon) traceSpec6Locked(req api.TraceRequest, mac header.MAC, netName string, dst netip.Addr) (dataplane.TraceSpec, error) {
	spec := dataplane.TraceSpec{Dst: dst, Proto: header.ProtoICMPv6, SPort: uint16(req.SPort)}
	switch req.Proto {
	case "", "icmp", "icmpv6", "icmp6":
	case "nd":
		spec.NS = true
	default:
		return spec, badRequest("bad --proto %q for an IPv6 --dst: want icmpv6 (an echo request) or nd (a neighbour solicitation)", req.Proto)
	}
	if spec.SPort == 0 {
		spec.SPort = 1
	}
	p := d.ports[req.In]
	switch {
	case req.Src != "":
		a, err := netip.ParseAddr(req.Src)
		if err != nil || !a.Is6() || a.Is4In6() {
			return spec, badRequest("bad --src %q: the --dst is IPv6, so --src must be an IPv6 address too", req.Src)
		}
		spec.Src = a
	case dst.IsLinkLocalUnicast():
		spec.Src = header.LinkLocalFromMAC(mac)
	case p != nil && p.cfg.IP6.IsValid():
		spec.Src = p.cfg.IP6.Addr()
	default:
		return spec, badRequest("port %s has no IPv6 address: give --src ADDR (or trace from a port of a network made with --ipv6)", req.In)
	}
	spec.SrcMAC = mac
	if req.SrcMAC != "" {
		m, err := header.ParseMAC(req.SrcMAC)
		if err != nil {
			return spec, badRequest("bad --src-mac %q: want a MAC like 02:42:ac:11:00:02", req.SrcMAC)
		}
		spec.SrcMAC = m
	}
	switch {
	case req.DstMAC != "":
		m, err := header.ParseMAC(req.DstMAC)
		if err != nil {
			return spec, badRequest("bad --dst-mac %q: want a MAC like 02:42:ac:11:00:03", req.DstMAC)
		}
		spec.DstMAC = m
	case spec.NS:
		spec.DstMAC = header.MulticastMAC6(header.SolicitedNode(dst))
	default:
		spec.DstMAC = d.nextHopMAC6Locked(netName, dst)
	}
	return spec, nil
}

// nextHopMAC6Locked is the MAC a container of network netName sends an
// IPv6 packet for dst to: the port's that has dst, else the gateway's (its
// default route).
func (d *Daemon) nextHopMAC6Locked(netName string, dst netip.Addr) header.MAC {
	n := d.nets[netName]
	if n == nil {
		return header.BroadcastMAC
	}
	for _, p := range d.st.Ports {
		if p.Network == netName {
			m, err := header.ParseMAC(p.MAC)
			if err == nil && ((p.IP6.IsValid() && p.IP6.Addr() == dst) || header.LinkLocalFromMAC(m) == dst) {
				return m
			}
		}
	}
	gw, _ := header.ParseMAC(n.cfg.GatewayMAC)
	return gw
}

// ipv6FrameView words an IPv6 frame's next header and ICMPv6 type for a
// trace; the hop limit goes where IPv4's TTL does.
func ipv6FrameView(fi dataplane.FrameInfo, f *api.TraceFrame) {
	f.TTL = int(fi.TTL)
	if fi.Proto != header.ProtoICMPv6 {
		f.Proto = fmt.Sprintf("next-header %d", fi.Proto)
		return
	}
	f.Proto = "icmpv6"
	switch fi.ICMPType {
	case header.ICMPv6EchoRequest:
		f.ICMP = fmt.Sprintf("echo-request id %d", fi.SPort)
	case header.ICMPv6EchoReply:
		f.ICMP = fmt.Sprintf("echo-reply id %d", fi.SPort)
	case header.ICMPv6NeighSolicit:
		f.ICMP = "neighbour-solicitation"
	case header.ICMPv6NeighAdvert:
		f.ICMP = "neighbour-advertisement"
	case header.ICMPv6RouterSolicit:
		f.ICMP = "router-solicitation"
	case header.ICMPv6RouterAdvert:
		f.ICMP = "router-advertisement"
	default:
		f.ICMP = fmt.Sprintf("type %d", fi.ICMPType)
	}
}

// icmp6Name words the ICMPv6 error a routed IPv6 packet's trace says the
// router sends (dataplane/route6.go); "" for another.
func icmp6Name(typ, code uint8) string {
	switch [2]uint8{typ, code} {
	case [2]uint8{1, 0}:
		return "destination unreachable (no route)"
	case [2]uint8{1, 3}:
		return "destination unreachable (address unreachable)"
	case [2]uint8{2, 0}:
		return "packet too big"
	case [2]uint8{3, 0}:
		return "time exceeded (hop limit)"
	}
	return ""
}
