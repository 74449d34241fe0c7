package daemon

import (
	"net/netip"
	"slices"
	"time"

	"vswitch/api"
	"vswitch/fdb"
	"vswitch/policy"
)

// Networks: create, list, inspect, remove. A network is an L2 domain in the
// dataplane plus its router interface (syncL3Locked in l3.go).

type netRT struct {
	cfg *NetworkState
	id  uint16
}

// DefaultNetwork is Docker's docker0: what vswitchd creates when it starts
// with no state and no --no-default-network.
var DefaultNetwork = api.NetworkCreate{Name: "bridge", Subnet: "172.17.0.0/16", Gateway: "172.17.0.1"}

func fdbConfig(n *NetworkState) fdb.Config {
	return fdb.Config{Aging: time.Duration(n.FDBAging) * time.Second, MACLimit: n.MACLimit}
}

// CreateNetwork validates and creates a network.
func (d *Daemon) CreateNetwork(req api.NetworkCreate) (api.Network, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	n, err := d.createNetworkLocked(req)
	if err != nil {
		return api.Network{}, err
	}
	if err := d.st.save(d.opts.StateDir); err != nil {
		return api.Network{}, err
	}
	return d.networkViewLocked(n), nil
}

func (d *Daemon) createNetworkLocked(req api.NetworkCreate) (*netRT, error) {
	if err := checkName("network", req.Name); err != nil {
		return nil, err
	}
	if _, ok := d.nets[req.Name]; ok {
		return nil, conflict("network %s already exists: pick another name or 'network rm %s' first", req.Name, req.Name)
	}
	if req.Subnet == "" {
		return nil, badRequest("no subnet given: pass --subnet CIDR, e.g. 10.10.0.0/24")
	}
	subnet, err := netip.ParsePrefix(req.Subnet)
	if err != nil || !subnet.Addr().Is4() {
		return nil, badRequest("bad subnet %q: want an IPv4 CIDR like 10.10.0.0/24", req.Subnet)
	}
	if subnet != subnet.Masked() {
		return nil, badRequest("subnet %s has host bits set: did you mean %s?", subnet, subnet.Masked())
	}
	if subnet.Bits() > 30 {
		return nil, badRequest("subnet %s is too small: it needs room for a gateway and ports (/30 at most)", subnet)
	}
	for _, o := range d.st.Networks {
		if o.Subnet.Overlaps(subnet) {
			return nil, conflict("subnet %s overlaps %s of network %s: pick a subnet that does not", subnet, o.Subnet, o.Name)
		}
	}
	for _, r := range d.st.Routes {
		if r.Prefix == subnet {
			return nil, conflict("a static route for %s exists: 'route del %s' first or pick another subnet", subnet, subnet)
		}
	}
	for _, u := range d.st.Uplinks {
		if u.IP.Masked().Overlaps(subnet) {
			return nil, conflict("subnet %s overlaps %s of uplink %s: pick a subnet that does not", subnet, u.IP.Masked(), u.Name)
		}
	}
	gw := subnet.Addr().Next()
	if req.Gateway != "" {
		gw, err = netip.ParseAddr(req.Gateway)
		if err != nil || !gw.Is4() {
			return nil, badRequest("bad gateway %q: want an IPv4 address inside %s", req.Gateway, subnet)
		}
		if err := checkHostAddr(subnet, gw); err != nil {
			return nil, badRequest("gateway: %v", err)
		}
	}
	mtu := 1500
	var vx *VXLANState
	if req.VXLAN != nil {
		// An overlay: the tunnel's socket is tried now, so a bad device or
		// address fails before anything exists (vxlan.go).
		var inner int
		if vx, inner, err = d.vxlanPrepareLocked(req.Name, req.VXLAN); err != nil {
			return nil, err
		}
		mtu = inner
		if req.MTU > inner {
			return nil, badRequest("--mtu %d does not fit the underlay: %s allows at most %d inside VXLAN (its MTU less the 50 or 70 bytes of encapsulation)", req.MTU, vx.Dev, inner)
		}
	}
	if req.MTU != 0 {
		mtu = req.MTU
	}
	if mtu < 576 || mtu > 65521 {
		return nil, badRequest("bad MTU %d: want 576 to 65521", mtu)
	}
	aging, limit := 300, 1024
	if req.FDBAging != nil {
		aging = *req.FDBAging
		if aging < 1 || aging > 1000000 {
			return nil, badRequest("bad --fdb-aging %d: want 1 to 1000000 seconds", aging)
		}
	}
	if req.MACLimit != nil {
		limit = *req.MACLimit
		if limit < 0 {
			return nil, badRequest("bad --mac-limit %d: want 0 (no limit) or more", limit)
		}
	}
	icc := true
	if req.ICC != nil {
		icc = *req.ICC
	}
	if _, ok := policy.ParseAction(req.ACLDefault); req.ACLDefault != "" && !ok {
		return nil, badRequest("bad --acl-default %q: want allow or deny", req.ACLDefault)
	}
	ns := NetworkState{
		Name: req.Name, Subnet: subnet, Gateway: gw, GatewayMAC: randomMAC().String(),
		Internal: req.Internal, ICC: icc, Masquerade: !req.NoMasquerade && !req.Internal,
		MTU: mtu, FDBAging: aging, MACLimit: limit, ACLDefault: req.ACLDefault,
	}
	if ns.ACLDefault == "" {
		ns.ACLDefault = "allow"
	}
	if err := guardOptions(&ns, req); err != nil {
		return nil, err
	}
	if err := d.ipv6OptionsLocked(&ns, req); err != nil {
		return nil, err
	}
	if err := nat66OptionLocked(&ns, req); err != nil {
		return nil, err
	}
	ns.VXLAN = vx
	if err := d.vlanOptionLocked(&ns, req); err != nil {
		return nil, err
	}
	id, err := d.dp.AddNetwork(ns.Name, fdbConfig(&ns))
	if err != nil {
		return nil, &Error{Status: 500, Msg: err.Error()}
	}
	d.dp.SetNetworkVLAN(id, uint16(ns.VLAN))
	d.st.Networks = append(d.st.Networks, ns)
	d.relinkLocked()
	rt := d.nets[ns.Name]
	rt.id = id
	if err := d.syncL3Locked(); err != nil {
		d.st.Networks = d.st.Networks[:len(d.st.Networks)-1]
		delete(d.nets, ns.Name)
		d.relinkLocked()
		d.dp.RemoveNetwork(id)
		d.syncL3Locked()
		return nil, err
	}
	d.syncACLLocked(rt)
	d.syncTrunksLocked("")
	if vx != nil {
		if err := d.plugVXLANLocked(rt.cfg); err != nil {
			d.removeNetworkLocked(ns.Name, true)
			return nil, err
		}
	}
	d.dp.SendGratuitous(id)
	return rt, nil
}

// relinkLocked points the runtime records at the state's slices again
// after an append or delete moved them.
func (d *Daemon) relinkLocked() {
	for i := range d.st.Networks {
		n := &d.st.Networks[i]
		if rt, ok := d.nets[n.Name]; ok {
			rt.cfg = n
		} else {
			d.nets[n.Name] = &netRT{cfg: n}
		}
	}
	for i := range d.st.Ports {
		p := &d.st.Ports[i]
		if rt, ok := d.ports[p.Name]; ok {
			rt.cfg = p
		}
	}
}

// RemoveNetwork removes a network; with force its ports and the ports
// published into it (or on its gateway) go first. Its ACL goes with it.
func (d *Daemon) RemoveNetwork(name string, force bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.removeNetworkLocked(name, force)
}

func (d *Daemon) removeNetworkLocked(name string, force bool) error {
	n, ok := d.nets[name]
	if !ok {
		return notFound("no network %s: 'vswitchctl network ls' lists them", name)
	}
	var names, users []string
	for _, p := range d.st.Ports {
		if p.Network == name {
			names = append(names, p.Name)
			if p.Kind != "vxlan" { // the tunnel is part of the network
				users = append(users, p.Name)
			}
		}
	}
	if len(users) > 0 && !force {
		return conflict("network %s has %d port(s) (%v): remove them with 'port rm' or use --force", name, len(users), users)
	}
	pubs := d.publishUsersLocked(name, n.cfg.Gateway)
	if len(pubs) > 0 && !force {
		return conflict("network %s has published ports (rule(s) %v): remove them with 'publish rm' or use --force", name, pubs)
	}
	if err := d.checkRouteUsersLocked(name, ""); err != nil {
		return err
	}
	for _, pn := range names {
		if err := d.removePortLocked(pn); err != nil {
			return err
		}
	}
	if len(pubs) > 0 {
		d.st.Publish = slices.DeleteFunc(d.st.Publish, func(p PublishState) bool { return slices.Contains(pubs, p.ID) })
		d.syncPublishLocked()
	}
	d.dp.SetACL(n.id, nil)
	d.syncTrunksLocked(name) // no trunk carries it any more
	if err := d.dp.RemoveNetwork(n.id); err != nil {
		return &Error{Status: 500, Msg: err.Error()}
	}
	d.st.ACLs = slices.DeleteFunc(d.st.ACLs, func(r ACLState) bool {
		if r.Network == name {
			delete(d.aclHits, r.ID)
			return true
		}
		return false
	})
	d.st.Networks = slices.DeleteFunc(d.st.Networks, func(x NetworkState) bool { return x.Name == name })
	delete(d.nets, name)
	for i := range d.st.Networks {
		o := &d.st.Networks[i]
		o.Connected = slices.DeleteFunc(o.Connected, func(x string) bool { return x == name })
	}
	d.relinkLocked()
	return d.commitL3Locked()
}

// Networks lists every network.
func (d *Daemon) Networks() []api.Network {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := []api.Network{}
	for i := range d.st.Networks {
		out = append(out, d.networkViewLocked(d.nets[d.st.Networks[i].Name]))
	}
	return out
}

// Network returns one network.
func (d *Daemon) Network(name string) (api.Network, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	n, ok := d.nets[name]
	if !ok {
		return api.Network{}, notFound("no network %s: 'vswitchctl network ls' lists them", name)
	}
	return d.networkViewLocked(n), nil
}

func (d *Daemon) networkViewLocked(n *netRT) api.Network {
	c := n.cfg
	v := api.Network{
		Name: c.Name, Subnet: c.Subnet.String(), Gateway: c.Gateway.String(), GatewayMAC: c.GatewayMAC,
		Internal: c.Internal, ICC: c.ICC, Masquerade: c.Masquerade, MTU: c.MTU,
		FDBAging: c.FDBAging, MACLimit: c.MACLimit, ACLDefault: aclDefault(c).String(), Ports: []api.Port{},
		Connected:    slices.Clone(c.Connected),
		PortSecurity: !c.NoPortSecurity, StormLimit: c.StormLimit, ConnRate: c.ConnRate,
		VLAN: c.VLAN,
		DNS:  true, // a resolver is started in every port's namespace (daemon/dns.go)
	}
	if v.Connected == nil {
		v.Connected = []string{}
	}
	v.VXLAN = vxlanView(c.VXLAN)
	if c.Subnet6.IsValid() {
		v.IPv6, v.Subnet6, v.Gateway6, v.Gateway6LL = true, c.Subnet6.String(), c.Gateway6.String(), gatewayLL(c).String()
		v.NAT66 = c.NAT66
	}
	slices.Sort(v.Connected)
	for i := range d.st.Ports {
		if d.onNetworkLocked(&d.st.Ports[i], c.Name) { // its own, and trunks that carry it
			v.Ports = append(v.Ports, d.portViewLocked(d.ports[d.st.Ports[i].Name]))
		}
	}
	return v
}

// checkNetworkLocked says when a network filter names no network.
func (d *Daemon) checkNetworkLocked(network string) error {
	if _, ok := d.nets[network]; network != "" && !ok {
		return notFound("no network %s: 'vswitchctl network ls' lists them", network)
	}
	return nil
}
