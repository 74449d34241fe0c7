package daemon

import (
	"net/netip"
	"slices"
	"sort"
	"time"

	"github.com/vishvananda/netlink"

	"vswitch/api"
	"vswitch/dataplane"
	"vswitch/dataplane/port"
	"vswitch/fdb"
	"vswitch/header"
	"vswitch/internal/netns"
	"vswitch/routing"
)

// The router's configuration: gateways, connections between networks,
// static routes and the uplink, turned into the dataplane's NetL3 records
// and one LPM table.

type uplinkRT struct {
	cfg   *UplinkState
	netID uint16
	idx   uint16 // 0 while down
	io    port.Port
	mtu   int
	err   string
	trunk *uplinkTrunk // a VLAN uplink's shared socket (vlan_uplink.go); io is its socket then
}

// syncL3Locked rebuilds every network's router interface and the route
// table from the state and hands them to the dataplane.
func (d *Daemon) syncL3Locked() error {
	nets := map[uint16]dataplane.NetL3{}
	var set routing.Set
	for i := range d.st.Networks {
		n := &d.st.Networks[i]
		rt := d.nets[n.Name]
		mac, _ := header.ParseMAC(n.GatewayMAC)
		l3 := dataplane.NetL3{GatewayIP: n.Gateway, GatewayMAC: mac, Subnet: n.Subnet, MTU: n.MTU,
			Internal: n.Internal, Masquerade: n.Masquerade, NoICC: !n.ICC}
		if n.Subnet6.IsValid() { // IPv6 at the gateway (ipv6.go, dataplane/nd.go)
			l3.Gateway6, l3.GatewayLL, l3.Prefix6 = n.Gateway6, header.LinkLocalFromMAC(mac), n.Subnet6
			if !n.Internal {
				l3.RALifetime = raLifetime
			}
			l3.Masquerade6 = n.NAT66 // daemon/nat66.go
		}
		for _, c := range n.Connected {
			if o, ok := d.nets[c]; ok {
				l3.Connected = append(l3.Connected, o.id)
			}
		}
		nets[rt.id] = l3
		if err := set.Add(routing.Route{Prefix: n.Subnet, Kind: routing.Connected, Network: rt.id}); err != nil {
			return err
		}
		if n.Subnet6.IsValid() { // routed between networks (dataplane/route6.go)
			if err := set.Add(routing.Route{Prefix: n.Subnet6, Kind: routing.Connected, Network: rt.id}); err != nil {
				return err
			}
		}
	}
	for i := range d.st.Uplinks {
		u := &d.st.Uplinks[i]
		rt := d.uplinks[u.Name]
		if rt == nil {
			continue // restoring: the networks' routes come before the uplinks are re-opened
		}
		mac, _ := header.ParseMAC(u.MAC)
		l3 := dataplane.NetL3{GatewayIP: u.IP.Addr(), GatewayMAC: mac, Subnet: u.IP.Masked(),
			MTU: rt.mtu, Uplink: true}
		if u.IP6.IsValid() { // its IPv6 address: ND answered, NAT66 and publish on it (daemon/nat66.go)
			l3.Gateway6, l3.GatewayLL, l3.Prefix6 = u.IP6.Addr(), header.LinkLocalFromMAC(mac), u.IP6.Masked()
		}
		nets[rt.netID] = l3
		if err := set.Add(routing.Route{Prefix: u.IP.Masked(), Kind: routing.Connected, Network: rt.netID}); err != nil {
			return err
		}
		if u.IP6.IsValid() {
			if err := set.Add(routing.Route{Prefix: u.IP6.Masked(), Kind: routing.Connected, Network: rt.netID}); err != nil {
				return err
			}
		}
		if u.Gateway6.IsValid() {
			if err := set.Add(routing.Route{Prefix: netip.PrefixFrom(netip.IPv6Unspecified(), 0), Kind: routing.Default,
				Via: u.Gateway6, Network: rt.netID}); err != nil {
				return err
			}
		}
		if u.Gateway.IsValid() {
			if err := set.Add(routing.Route{Prefix: netip.PrefixFrom(netip.IPv4Unspecified(), 0), Kind: routing.Default,
				Via: u.Gateway, Network: rt.netID}); err != nil {
				return err
			}
		}
	}
	for _, r := range d.st.Routes {
		rr, err := d.staticRouteLocked(r)
		if err != nil {
			return err
		}
		if err := set.Add(rr); err != nil {
			return badRequest("%v", err)
		}
	}
	d.routes = set
	d.dp.SetL3(nets, set.Table())
	return nil
}

// commitL3Locked applies a routing change and saves it.
func (d *Daemon) commitL3Locked() error {
	if err := d.syncL3Locked(); err != nil {
		return err
	}
	return d.st.save(d.opts.StateDir)
}

// staticRouteLocked resolves a static route's egress: the port given, or the
// network (or uplink link) whose subnet holds the next hop.
func (d *Daemon) staticRouteLocked(r RouteState) (routing.Route, error) {
	rr := routing.Route{Prefix: r.Prefix, Kind: routing.Static, Via: r.Via}
	if r.Port != "" {
		p, ok := d.ports[r.Port]
		if !ok {
			return rr, notFound("no port %s: 'vswitchctl port ls' lists them", r.Port)
		}
		if p.io == nil {
			return rr, conflict("port %s is down (%s)", r.Port, p.err)
		}
		if err := notOnTrunk(p, "route via a next hop on one of its networks (--via IP)"); err != nil {
			return rr, err
		}
		rr.Port = p.idx
		rr.Network = d.nets[p.cfg.Network].id
		return rr, nil
	}
	if id, ok := d.netOfAddrLocked(r.Via); ok {
		rr.Network = id
		return rr, nil
	}
	return rr, badRequest("next hop %s is on no network or uplink subnet: give a next hop on one of them", r.Via)
}

// netOfAddrLocked finds the network or uplink link whose subnet (or IPv6
// prefix) holds a.
func (d *Daemon) netOfAddrLocked(a netip.Addr) (uint16, bool) {
	for _, n := range d.st.Networks {
		if n.Subnet.Contains(a) || n.Subnet6.Contains(a) {
			return d.nets[n.Name].id, true
		}
	}
	for _, u := range d.st.Uplinks {
		if rt := d.uplinks[u.Name]; rt != nil && (u.IP.Masked().Contains(a) || u.IP6.Masked().Contains(a)) {
			return rt.netID, true
		}
	}
	return 0, false
}

// Connect lets networks a and b route to each other.
func (d *Daemon) Connect(a, b string, on bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	na, ok := d.nets[a]
	if !ok {
		return notFound("no network %s: 'vswitchctl network ls' lists them", a)
	}
	nb, ok := d.nets[b]
	if !ok {
		return notFound("no network %s: 'vswitchctl network ls' lists them", b)
	}
	if a == b {
		return badRequest("a network is always connected to itself: name two networks")
	}
	has := slices.Contains(na.cfg.Connected, b)
	switch {
	case on && has:
		return conflict("networks %s and %s are already connected", a, b)
	case !on && !has:
		return conflict("networks %s and %s are not connected", a, b)
	case on:
		na.cfg.Connected = append(na.cfg.Connected, b)
		nb.cfg.Connected = append(nb.cfg.Connected, a)
	default:
		na.cfg.Connected = slices.DeleteFunc(na.cfg.Connected, func(x string) bool { return x == b })
		nb.cfg.Connected = slices.DeleteFunc(nb.cfg.Connected, func(x string) bool { return x == a })
	}
	return d.commitL3Locked()
}

// Routes lists the route table as `route ls` shows it.
func (d *Daemon) Routes() []api.Route {
	d.mu.Lock()
	defer d.mu.Unlock()
	names := map[uint16]string{}
	for _, n := range d.nets {
		names[n.id] = n.cfg.Name
	}
	for _, u := range d.uplinks {
		names[u.netID] = u.cfg.Name
	}
	ports := d.portNamesLocked()
	out := []api.Route{}
	for _, r := range d.routes.Routes() {
		v := api.Route{Prefix: r.Prefix.String(), Kind: r.Kind.String(), Port: names[r.Network]}
		if r.Via.IsValid() {
			v.Via = r.Via.String()
		}
		if r.Port != 0 {
			v.Port = ports[r.Port]
		}
		out = append(out, v)
	}
	return out
}

func (d *Daemon) portNamesLocked() map[uint16]string {
	m := map[uint16]string{}
	for _, p := range d.ports {
		if p.io != nil {
			m[p.idx] = p.cfg.Name
		}
	}
	for _, u := range d.uplinks {
		if u.io != nil {
			m[u.idx] = u.cfg.Name
		}
	}
	d.trunkNamesLocked(m) // a trunk's VLANs are ports of their own in the dataplane
	return m
}

// AddRoute adds a static route; it takes effect at once.
func (d *Daemon) AddRoute(req api.RouteAdd) (api.Route, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p, err := netip.ParsePrefix(req.Prefix)
	if err != nil || p.Addr().Is4In6() || p.Addr().Zone() != "" {
		return api.Route{}, badRequest("bad prefix %q: want a CIDR like 10.20.0.0/16 or fd00:20::/48", req.Prefix)
	}
	if p != p.Masked() {
		return api.Route{}, badRequest("prefix %s has host bits set: did you mean %s?", p, p.Masked())
	}
	r := RouteState{Prefix: p, Port: req.Port}
	switch {
	case (req.Via == "") == (req.Port == ""):
		return api.Route{}, badRequest("give exactly one of --via IP and --port NAME")
	case req.Via != "" && p.Addr().Is6():
		if r.Via, err = netip.ParseAddr(req.Via); err != nil || !r.Via.Is6() || r.Via.Is4In6() || r.Via.Zone() != "" {
			return api.Route{}, badRequest("bad next hop %q: an IPv6 route wants an IPv6 next hop, like fd00:1::20", req.Via)
		}
		if r.Via.IsLinkLocalUnicast() || r.Via.IsMulticast() {
			return api.Route{}, badRequest("next hop %s is not a global unicast address: give the host's address on a network's --subnet6", r.Via)
		}
	case req.Via != "":
		if r.Via, err = netip.ParseAddr(req.Via); err != nil || !r.Via.Is4() {
			return api.Route{}, badRequest("bad next hop %q: an IPv4 route wants an IPv4 next hop, like 10.1.0.20", req.Via)
		}
	}
	for _, o := range d.st.Routes {
		if o.Prefix == p {
			return api.Route{}, conflict("there is already a route for %s: 'route del %s' first", p, p)
		}
	}
	if _, err := d.staticRouteLocked(r); err != nil {
		return api.Route{}, err
	}
	d.st.Routes = append(d.st.Routes, r)
	if err := d.syncL3Locked(); err != nil {
		d.st.Routes = d.st.Routes[:len(d.st.Routes)-1]
		d.syncL3Locked()
		return api.Route{}, err
	}
	if err := d.st.save(d.opts.StateDir); err != nil {
		return api.Route{}, err
	}
	v := api.Route{Prefix: p.String(), Port: req.Port, Kind: "static"}
	if r.Via.IsValid() {
		v.Via = r.Via.String()
	}
	return v, nil
}

// DelRoute removes a static route.
func (d *Daemon) DelRoute(prefix string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	p, err := netip.ParsePrefix(prefix)
	if err != nil {
		return badRequest("bad prefix %q: want a CIDR as 'route ls' shows it", prefix)
	}
	i := slices.IndexFunc(d.st.Routes, func(r RouteState) bool { return r.Prefix == p })
	if i < 0 {
		for _, r := range d.routes.Routes() {
			if r.Prefix == p {
				return conflict("the route for %s is %s: it goes with its network or uplink, not with 'route del'", p, r.Kind)
			}
		}
		return notFound("no static route for %s: 'vswitchctl route ls' lists them", p)
	}
	d.st.Routes = slices.Delete(d.st.Routes, i, i+1)
	return d.commitL3Locked()
}

// Neighbors lists the neighbour table as `arp show` shows it: IPv4
// neighbours (ARP) first, then IPv6 ones (ND).
func (d *Daemon) Neighbors() []api.Neighbor {
	d.mu.Lock()
	defer d.mu.Unlock()
	byID := map[uint16]string{}
	fdbs := map[uint16]*fdb.Table{}
	for _, n := range d.nets {
		byID[n.id] = n.cfg.Name
		fdbs[n.id] = d.dp.FDB(n.id)
	}
	for _, u := range d.uplinks {
		byID[u.netID] = u.cfg.Name
	}
	ports := d.portNamesLocked()
	byIP := map[netip.Addr]string{}
	for _, p := range d.st.Ports {
		if p.IP.IsValid() {
			byIP[p.IP.Addr()] = p.Name
		}
		if p.IP6.IsValid() {
			byIP[p.IP6.Addr()] = p.Name
		}
	}
	out := []api.Neighbor{}
	for _, e := range d.dp.ARP().Entries(time.Now().UnixNano()) {
		v := api.Neighbor{IP: e.IP.String(), State: e.State.String(), Port: byID[e.Port]}
		if !e.MAC.IsZero() { // incomplete and failed entries have none
			v.MAC = e.MAC.String()
		}
		if t := fdbs[e.Port]; t != nil {
			if p, ok := t.Lookup(e.MAC.Uint64()); ok && ports[p] != "" {
				v.Port = ports[p]
			} else if name, ok := byIP[e.IP]; ok {
				v.Port = name // a port vswitchd made: known before any traffic
			}
		}
		out = append(out, v)
	}
	return out
}

// Uplinks lists the uplinks.
func (d *Daemon) Uplinks() []api.Uplink {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := []api.Uplink{}
	for i := range d.st.Uplinks {
		out = append(out, d.uplinkViewLocked(d.uplinks[d.st.Uplinks[i].Name]))
	}
	return out
}

func (d *Daemon) uplinkViewLocked(u *uplinkRT) api.Uplink {
	c := u.cfg
	v := api.Uplink{Name: c.Name, Dev: c.Dev, Netns: c.Netns, IP: c.IP.String(), MAC: c.MAC, MTU: u.mtu, State: "up"}
	if c.Gateway.IsValid() {
		v.Gateway = c.Gateway.String()
	}
	if c.IP6.IsValid() {
		v.IP6 = c.IP6.String()
	}
	if c.Gateway6.IsValid() {
		v.Gateway6 = c.Gateway6.String()
	}
	v.VLAN = c.VLAN
	if u.io == nil {
		v.State = "down"
	}
	return v
}

// AddUplink attaches the way out.
func (d *Daemon) AddUplink(req api.UplinkAdd) (api.Uplink, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if req.Dev == "" {
		return api.Uplink{}, badRequest("no interface given: pass --dev IF")
	}
	name := req.Name
	if name == "" {
		name = "uplink"
		if _, ok := d.uplinks[name]; ok {
			name = "uplink-" + req.Dev
		}
	}
	if err := checkName("uplink", name); err != nil {
		return api.Uplink{}, err
	}
	if _, ok := d.uplinks[name]; ok {
		return api.Uplink{}, conflict("uplink %s exists: pick another --name", name)
	}
	if _, ok := d.ports[name]; ok {
		return api.Uplink{}, conflict("%s is a port's name: pick another --name", name)
	}
	ip, err := netip.ParsePrefix(req.IP)
	if err != nil || !ip.Addr().Is4() {
		return api.Uplink{}, badRequest("bad --ip %q: want the uplink's IPv4 address with its prefix, like 10.0.12.15/24", req.IP)
	}
	if err := checkHostAddr(ip.Masked(), ip.Addr()); err != nil {
		return api.Uplink{}, badRequest("%v", err)
	}
	for _, n := range d.st.Networks {
		if n.Subnet.Overlaps(ip.Masked()) {
			return api.Uplink{}, conflict("uplink subnet %s overlaps network %s (%s)", ip.Masked(), n.Name, n.Subnet)
		}
	}
	for _, r := range d.st.Routes {
		if r.Prefix == ip.Masked() {
			return api.Uplink{}, conflict("a static route for %s exists: 'route del %s' first", r.Prefix, r.Prefix)
		}
	}
	for _, u := range d.st.Uplinks {
		if u.IP.Masked().Overlaps(ip.Masked()) {
			return api.Uplink{}, conflict("uplink subnet %s overlaps uplink %s (%s)", ip.Masked(), u.Name, u.IP)
		}
		if req.Gateway != "" && u.Gateway.IsValid() {
			return api.Uplink{}, conflict("uplink %s already has the default route via %s: add this one without --gateway", u.Name, u.Gateway)
		}
	}
	var gw netip.Addr
	if req.Gateway != "" {
		if gw, err = netip.ParseAddr(req.Gateway); err != nil || !ip.Masked().Contains(gw) || gw == ip.Addr() {
			return api.Uplink{}, badRequest("bad --gateway %q: want an address inside %s other than the uplink's own", req.Gateway, ip.Masked())
		}
		for _, r := range d.st.Routes {
			if r.Prefix.Bits() == 0 {
				return api.Uplink{}, conflict("a static default route exists: 'route del 0.0.0.0/0' first")
			}
		}
	}
	ip6, gw6, err := d.uplink6OptionsLocked(req)
	if err != nil {
		return api.Uplink{}, err
	}
	nsPath, err := nsPathOf(req.Netns)
	if err != nil {
		return api.Uplink{}, err
	}
	if err := d.uplinkVLANOptionLocked(nsPath, req.Dev, req.VLAN); err != nil {
		return api.Uplink{}, err
	}
	if err := d.devInUseLocked(nsPath, req.Dev); err != nil {
		return api.Uplink{}, err
	}
	us := UplinkState{Name: name, Dev: req.Dev, Netns: req.Netns, NetnsPath: nsPath, IP: ip, Gateway: gw, MAC: randomMAC().String(),
		IP6: ip6, Gateway6: gw6, VLAN: req.VLAN}
	d.st.Uplinks = append(d.st.Uplinks, us)
	rt := &uplinkRT{cfg: &d.st.Uplinks[len(d.st.Uplinks)-1]}
	d.relinkUplinksLocked()
	d.uplinks[name] = rt
	rt.cfg = &d.st.Uplinks[len(d.st.Uplinks)-1]
	if err := d.openUplinkLocked(rt); err != nil {
		d.st.Uplinks = d.st.Uplinks[:len(d.st.Uplinks)-1]
		delete(d.uplinks, name)
		d.relinkUplinksLocked()
		if rt.netID != 0 {
			d.dp.RemoveNetwork(rt.netID)
		}
		d.syncL3Locked()
		return api.Uplink{}, badRequest("%v", err)
	}
	if err := d.st.save(d.opts.StateDir); err != nil {
		return api.Uplink{}, err
	}
	d.log.Info("uplink added", "uplink", name, "dev", req.Dev, "netns", req.Netns, "ip", ip, "gateway", gw, "ip6", ip6, "gateway6", gw6, "vlan", req.VLAN)
	return d.uplinkViewLocked(rt), nil
}

func (d *Daemon) relinkUplinksLocked() {
	for i := range d.st.Uplinks {
		if rt, ok := d.uplinks[d.st.Uplinks[i].Name]; ok {
			rt.cfg = &d.st.Uplinks[i]
		}
	}
}

// openUplinkLocked creates the uplink's L3-only network in the dataplane,
// opens the AF_PACKET socket and announces the uplink address.
func (d *Daemon) openUplinkLocked(rt *uplinkRT) error {
	c := rt.cfg
	if rt.netID == 0 {
		id, err := d.dp.AddNetwork("uplink:"+c.Name, fdb.Config{})
		if err != nil {
			return err
		}
		rt.netID = id
	}
	rt.mtu = 1500
	if h, err := netns.Handle(c.NetnsPath); err == nil {
		if l, err := h.LinkByName(c.Dev); err == nil {
			rt.mtu = l.Attrs().MTU
			if addrs, _ := h.AddrList(l, netlink.FAMILY_V4); len(addrs) > 0 {
				d.log.Warn("the uplink's interface has an IPv4 address of its own; the kernel under it will answer for it too", "dev", c.Dev, "addr", addrs[0].IPNet)
			}
		}
		h.Close()
	}
	// Router config first, so no frame of the link is switched at L2.
	if err := d.syncL3Locked(); err != nil {
		return err
	}
	if err := linkUp(c.NetnsPath, c.Dev); err != nil {
		return err
	}
	if c.VLAN != 0 {
		return d.openVLANUplinkLocked(rt) // one socket for the device's VLAN uplinks
	}
	af, err := d.openAFPacketLocked(c.NetnsPath, c.Dev)
	if err != nil {
		return err
	}
	idx, err := d.dp.AddPort(c.Name, rt.netID, af)
	if err != nil {
		af.Close()
		return err
	}
	rt.io, rt.idx, rt.err = af, idx, ""
	d.dp.SendGratuitous(rt.netID)
	return nil
}

// RemoveUplink detaches an uplink; the interface stays as it was.
func (d *Daemon) RemoveUplink(name string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	rt, ok := d.uplinks[name]
	if !ok {
		return notFound("no uplink %s: 'vswitchctl uplink ls' lists them", name)
	}
	for _, r := range d.st.Routes {
		if r.Via.IsValid() && (rt.cfg.IP.Masked().Contains(r.Via) || rt.cfg.IP6.Masked().Contains(r.Via)) {
			return conflict("route %s goes via %s on uplink %s: 'route del %s' first", r.Prefix, r.Via, name, r.Prefix)
		}
	}
	if ids := d.publishUsersLocked("", rt.cfg.IP.Addr()); len(ids) > 0 {
		return conflict("publish rule(s) %v listen on %s, the address of uplink %s: 'publish rm' them first", ids, rt.cfg.IP.Addr(), name)
	}
	switch {
	case rt.trunk != nil:
		d.closeVLANUplinkLocked(rt)
	case rt.io != nil:
		d.dp.RemovePort(rt.idx)
		rt.io.Close()
	}
	d.dp.RemoveNetwork(rt.netID)
	d.st.Uplinks = slices.DeleteFunc(d.st.Uplinks, func(u UplinkState) bool { return u.Name == name })
	delete(d.uplinks, name)
	d.relinkUplinksLocked()
	return d.commitL3Locked()
}

// uplinkPortsLocked lists uplinks as ports of kind "uplink" for `port ls`.
func (d *Daemon) uplinkPortsLocked() []api.Port {
	var out []api.Port
	for i := range d.st.Uplinks {
		u := d.uplinks[d.st.Uplinks[i].Name]
		v := api.Port{Name: u.cfg.Name, Kind: "uplink", Netns: u.cfg.Netns, Ifname: u.cfg.Dev,
			MAC: u.cfg.MAC, IP: u.cfg.IP.String(), MTU: u.mtu, State: "up"}
		if u.io == nil {
			v.State = "down"
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// checkRouteUsersLocked refuses to remove what a static route needs.
func (d *Daemon) checkRouteUsersLocked(network, portName string) error {
	for _, r := range d.st.Routes {
		if portName != "" && r.Port == portName {
			return conflict("route %s goes out of port %s: 'route del %s' first", r.Prefix, portName, r.Prefix)
		}
		if network != "" && r.Via.IsValid() {
			for _, n := range d.st.Networks {
				if n.Name == network && (n.Subnet.Contains(r.Via) || n.Subnet6.Contains(r.Via)) {
					return conflict("route %s goes via %s on network %s: 'route del %s' first", r.Prefix, r.Via, network, r.Prefix)
				}
			}
		}
		if network != "" && r.Port != "" {
			if p, ok := d.ports[r.Port]; ok && p.cfg.Network == network {
				return conflict("route %s goes out of port %s on network %s: 'route del %s' first", r.Prefix, r.Port, network, r.Prefix)
			}
		}
	}
	return nil
}
