package daemon

import (
	"fmt"
	"net"
	"net/netip"
	"slices"

	"vswitch/api"
	"vswitch/dataplane/port"
	"vswitch/header"
	"vswitch/internal/netns"
)

// Ports: TAPs created inside a namespace and AF_PACKET ports on existing
// interfaces; naming, addressing (IPAM) and the device's setup.

type portRT struct {
	cfg *PortState
	idx uint16         // 0 while down
	io  port.Port      // nil while down
	tap port.TAPDevice // set for TAP ports
	err string         // why it is down
}

func (d *Daemon) portViewLocked(p *portRT) api.Port {
	c := p.cfg
	v := api.Port{Name: c.Name, Network: c.Network, Kind: c.Kind, Netns: c.Netns, Ifname: c.Ifname,
		MAC: c.MAC, MTU: c.MTU, State: "up", Aliases: c.Aliases}
	d.guardViewLocked(c, &v)
	policeView(c, &v)
	d.trunkViewLocked(p, &v)
	if c.IP.IsValid() {
		v.IP = c.IP.String()
	}
	if c.IP6.IsValid() {
		v.IP6 = c.IP6.String()
	}
	if p.io == nil {
		v.State = "down"
	}
	return v
}

// Ports lists ports, of one network if network is not empty.
func (d *Daemon) Ports(network string) ([]api.Port, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.checkNetworkLocked(network); err != nil {
		return nil, err
	}
	out := []api.Port{}
	for i := range d.st.Ports {
		p := &d.st.Ports[i]
		if network == "" || d.onNetworkLocked(p, network) {
			out = append(out, d.portViewLocked(d.ports[p.Name]))
		}
	}
	if network == "" {
		out = append(out, d.uplinkPortsLocked()...)
	}
	return out, nil
}

// AddPort creates a TAP inside a namespace and plugs it into a network.
func (d *Daemon) AddPort(req api.PortAdd) (api.Port, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	n, ok := d.nets[req.Network]
	if !ok {
		return api.Port{}, notFound("no network %s: create it with 'vswitchctl network create %s --subnet CIDR'", req.Network, req.Network)
	}
	nsPath, err := netns.Path(req.Netns)
	if err != nil {
		return api.Port{}, badRequest("%v", err)
	}
	ifname := req.Ifname
	if ifname == "" {
		if ifname, err = freeIfname(nsPath); err != nil {
			return api.Port{}, badRequest("%v", err)
		}
	} else {
		if len(ifname) > 15 || !nameRE.MatchString(ifname) {
			return api.Port{}, badRequest("bad interface name %q: 1 to 15 letters, digits, '.', '_' or '-'", ifname)
		}
		exists, err := linkExists(nsPath, ifname)
		if err != nil {
			return api.Port{}, badRequest("%v", err)
		}
		if exists {
			return api.Port{}, conflict("namespace %s already has an interface %s: pick another --ifname", req.Netns, ifname)
		}
	}
	name, err := d.portNameLocked(req.Name, netns.ShortName(req.Netns), ifname)
	if err != nil {
		return api.Port{}, err
	}
	ip, err := d.portIPLocked(n.cfg, req.IP)
	if err != nil {
		return api.Port{}, err
	}
	mac, err := d.portMACLocked(n.cfg, req.MAC, ip.Addr())
	if err != nil {
		return api.Port{}, err
	}
	ip6, err := d.portIP6Locked(n.cfg, req.IP6)
	if err != nil {
		return api.Port{}, err
	}
	ps := PortState{Name: name, Network: n.cfg.Name, Kind: "tap", Netns: req.Netns, NetnsPath: nsPath,
		Ifname: ifname, MAC: mac.String(), IP: ip, IP6: ip6, MTU: n.cfg.MTU, NoDefaultRoute: req.NoDefaultRoute,
		PortSecurity: req.PortSecurity}
	if ps.AllowedIPs, err = parseAllowedIPs(req.AllowedIPs); err != nil {
		return api.Port{}, err
	}
	if ps.Aliases, err = d.checkAliasesLocked(n.cfg.Name, name, req.Aliases); err != nil {
		return api.Port{}, err
	}
	if !req.NoResolvConf && !d.nsHasPortLocked(nsPath) {
		if ps.ResolvConf, err = writeResolvConf(req.Netns); err != nil {
			return api.Port{}, badRequest("%v", err)
		}
	}
	v, err := d.plugPortLocked(ps)
	if err != nil && ps.ResolvConf {
		removeResolvConf(req.Netns)
	}
	return v, err
}

// nsHasPortLocked reports whether a port already lives in the namespace.
func (d *Daemon) nsHasPortLocked(nsPath string) bool {
	for _, p := range d.st.Ports {
		if p.NetnsPath == nsPath {
			return true
		}
	}
	return false
}

// checkAliasesLocked checks --alias names: valid, and not a name of the
// network already (a port's or an alias).
func (d *Daemon) checkAliasesLocked(network, portName string, aliases []string) ([]string, error) {
	taken := map[string]string{dnsName(portName): portName}
	for _, p := range d.st.Ports {
		if p.Network != network {
			continue
		}
		taken[dnsName(p.Name)] = p.Name
		for _, a := range p.Aliases {
			taken[dnsName(a)] = p.Name
		}
	}
	var out []string
	for _, a := range aliases {
		if err := checkName("alias", a); err != nil {
			return nil, err
		}
		if owner, ok := taken[dnsName(a)]; ok {
			return nil, conflict("name %s is already port %s's on network %s: pick another --alias", a, owner, network)
		}
		taken[dnsName(a)] = portName
		out = append(out, a)
	}
	return out, nil
}

// plugPortLocked opens a new port's device, plugs it in and records it.
func (d *Daemon) plugPortLocked(ps PortState) (api.Port, error) {
	rt := &portRT{cfg: &ps}
	if err := d.openPortLocked(rt); err != nil {
		return api.Port{}, badRequest("%v", err)
	}
	d.st.Ports = append(d.st.Ports, ps)
	d.ports[ps.Name] = rt
	d.relinkLocked()
	d.syncDNSLocked()
	d.syncPublishLocked() // a rule to its IPv4 address answers on IPv6 too (publish.go)
	if err := d.st.save(d.opts.StateDir); err != nil {
		d.removePortLocked(ps.Name)
		return api.Port{}, err
	}
	d.log.Info("port added", "port", ps.Name, "kind", ps.Kind, "network", ps.Network, "netns", ps.Netns,
		"ifname", ps.Ifname, "ip", ps.IP)
	return d.portViewLocked(rt), nil
}

// devInUseLocked refuses an interface that is already a port.
func (d *Daemon) devInUseLocked(nsPath, dev string) error {
	for _, p := range d.st.Ports {
		if p.NetnsPath == nsPath && p.Ifname == dev {
			return conflict("interface %s is already port %s", dev, p.Name)
		}
	}
	return nil
}

// AttachPort plugs an existing interface in with an AF_PACKET socket.
func (d *Daemon) AttachPort(req api.PortAttach) (api.Port, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if req.Trunk || req.VLANs != "" || req.Native != 0 {
		return d.attachTrunkLocked(req)
	}
	if req.Network == "" {
		return api.Port{}, badRequest("no network given: name the NETWORK to attach to, or make the port a trunk (--trunk)")
	}
	n, ok := d.nets[req.Network]
	if !ok {
		return api.Port{}, notFound("no network %s: create it with 'vswitchctl network create %s --subnet CIDR'", req.Network, req.Network)
	}
	if req.Dev == "" {
		return api.Port{}, badRequest("no interface given: pass --dev IF")
	}
	kind := req.Kind
	switch kind {
	case "":
		kind = "afpacket"
	case "afpacket", "xdp":
	default:
		return api.Port{}, badRequest("bad --kind %q: afpacket or xdp", req.Kind)
	}
	nsPath, err := nsPathOf(req.Netns)
	if err != nil {
		return api.Port{}, err
	}
	if err := d.devInUseLocked(nsPath, req.Dev); err != nil {
		return api.Port{}, err
	}
	name, err := d.attachNameLocked(req.Name, req.Netns, req.Dev)
	if err != nil {
		return api.Port{}, err
	}
	return d.plugPortLocked(PortState{Name: name, Network: n.cfg.Name, Kind: kind, Netns: req.Netns,
		NetnsPath: nsPath, Ifname: req.Dev, MTU: n.cfg.MTU})
}

// nsPathOf resolves an optional --netns name to its path; "" is the
// daemon's own namespace.
func nsPathOf(name string) (string, error) {
	if name == "" {
		return "", nil
	}
	p, err := netns.Path(name)
	if err != nil {
		return "", badRequest("%v", err)
	}
	return p, nil
}

// attachNameLocked names a port made of an existing interface dev: asked,
// else after the namespace ns (else after dev itself), as portNameLocked.
func (d *Daemon) attachNameLocked(asked, ns, dev string) (string, error) {
	base := dev
	if ns != "" {
		base = netns.ShortName(ns)
	}
	return d.portNameLocked(asked, base, dev)
}

// portNameLocked picks the port's name: the one asked for, else base, else
// base-ifname.
func (d *Daemon) portNameLocked(asked, base, ifname string) (string, error) {
	if asked != "" {
		if err := checkName("port", asked); err != nil {
			return "", err
		}
		if _, ok := d.ports[asked]; ok {
			return "", conflict("port name %s is taken: pick another --name", asked)
		}
		if _, ok := d.uplinks[asked]; ok {
			return "", conflict("port name %s is an uplink's: pick another --name", asked)
		}
		return asked, nil
	}
	for _, n := range []string{base, base + "-" + ifname} {
		if _, ok := d.ports[n]; !ok && d.uplinks[n] == nil && nameRE.MatchString(n) {
			return n, nil
		}
	}
	return "", conflict("port names %s and %s-%s are taken: pass --name", base, base, ifname)
}

// portIPLocked resolves --ip: "auto"/empty allocates, a bare IP takes the
// subnet's prefix length, a CIDR is taken as is.
func (d *Daemon) portIPLocked(n *NetworkState, s string) (netip.Prefix, error) {
	used := map[netip.Addr]bool{n.Gateway: true}
	for _, p := range d.st.Ports {
		if p.IP.IsValid() {
			used[p.IP.Addr()] = true
		}
	}
	if s == "" || s == "auto" {
		a, err := nextFree(n.Subnet, used)
		if err != nil {
			return netip.Prefix{}, conflict("%v", err)
		}
		return netip.PrefixFrom(a, n.Subnet.Bits()), nil
	}
	var p netip.Prefix
	if a, err := netip.ParseAddr(s); err == nil {
		p = netip.PrefixFrom(a, n.Subnet.Bits())
	} else if p, err = netip.ParsePrefix(s); err != nil {
		return netip.Prefix{}, badRequest("bad --ip %q: want an IPv4 address, a CIDR like 10.0.0.5/24, or auto", s)
	}
	if err := checkHostAddr(n.Subnet, p.Addr()); err != nil {
		return netip.Prefix{}, badRequest("%v", err)
	}
	if p.Addr() == n.Gateway {
		return netip.Prefix{}, conflict("address %s is the gateway of network %s: pick another or use --ip auto", p.Addr(), n.Name)
	}
	if used[p.Addr()] {
		return netip.Prefix{}, conflict("address %s is in use on network %s: pick another or use --ip auto", p.Addr(), n.Name)
	}
	return p, nil
}

// portMACLocked resolves --mac; by default it is derived from the IP as
// Docker does (02:42 + the four address bytes), unique within a network
// because addresses are.
func (d *Daemon) portMACLocked(n *NetworkState, s string, ip netip.Addr) (header.MAC, error) {
	var m header.MAC
	if s == "" {
		a := ip.As4()
		m = header.MAC{0x02, 0x42, a[0], a[1], a[2], a[3]}
	} else {
		var err error
		if m, err = header.ParseMAC(s); err != nil {
			return m, badRequest("%v", err)
		}
		if m.IsMulticast() || m.IsZero() {
			return m, badRequest("MAC %s is multicast or zero: a port needs a unicast address", m)
		}
	}
	for _, p := range d.st.Ports {
		if p.Network == n.Name && p.MAC == m.String() {
			return m, conflict("MAC %s is in use by port %s: pick another --mac", m, p.Name)
		}
	}
	if m.String() == n.GatewayMAC {
		return m, conflict("MAC %s is the gateway's: pick another --mac", m)
	}
	return m, nil
}

// openPortLocked opens (or re-opens) the port's device, configures it and
// plugs it into the dataplane.
func (d *Daemon) openPortLocked(rt *portRT) error {
	c := rt.cfg
	if c.Trunk {
		return d.openTrunkLocked(rt)
	}
	n, ok := d.nets[c.Network]
	if !ok {
		return fmt.Errorf("its network %s is gone", c.Network)
	}
	if c.NetnsPath != "" && !netns.Exists(c.NetnsPath) {
		return fmt.Errorf("namespace %s does not exist: create it with 'ip netns add' or give a path like /proc/PID/ns/net", c.Netns)
	}
	var io port.Port
	switch c.Kind {
	case "tap":
		tap, err := port.OpenTAP(c.NetnsPath, c.Ifname, d.dp.Workers())
		if err != nil {
			return err
		}
		mac, _ := net.ParseMAC(c.MAC)
		tc := tapConfig{ifname: c.Ifname, mac: mac, ip: c.IP, mtu: c.MTU, ip6: c.IP6}
		if !c.NoDefaultRoute && !n.cfg.Internal {
			tc.gateway = n.cfg.Gateway
			if c.IP6.IsValid() {
				tc.gateway6 = gatewayLL(n.cfg)
			}
		}
		if err := configureTAP(c.NetnsPath, tc); err != nil {
			tap.Delete()
			return err
		}
		rt.tap, io = tap, tap[0]
	case "afpacket":
		if err := linkUp(c.NetnsPath, c.Ifname); err != nil {
			return err
		}
		af, err := d.openAFPacketLocked(c.NetnsPath, c.Ifname)
		if err != nil {
			return err
		}
		c.MAC = af.MAC().String()
		io = af
	case "vxlan":
		vx, err := d.openVXLANLocked(n.cfg)
		if err != nil {
			return err
		}
		io = vx
	case "xdp":
		if err := linkUp(c.NetnsPath, c.Ifname); err != nil {
			return err
		}
		x, err := port.OpenXDP(c.NetnsPath, c.Ifname)
		if err != nil {
			return fmt.Errorf("cannot set up AF_XDP on %s: %v", c.Ifname, err)
		}
		c.MAC = x.MAC().String()
		io = x
	default:
		return fmt.Errorf("unknown port kind %q", c.Kind)
	}
	queues := []port.Port{io}
	if rt.tap != nil {
		queues = rt.tap.Ports()
	}
	idx, err := d.dp.AddPortQueues(c.Name, n.id, queues)
	if err != nil {
		if rt.tap != nil {
			rt.tap.Delete()
		} else {
			io.Close()
		}
		return err
	}
	err = d.dp.SetGuard(idx, guardConfig(c, n.cfg))
	if err == nil {
		err = d.dp.SetPolice(idx, policeConfig(c))
	}
	if err != nil {
		d.dp.RemovePort(idx)
		if rt.tap != nil {
			rt.tap.Delete()
		} else {
			io.Close()
		}
		return err
	}
	rt.io, rt.idx, rt.err = io, idx, ""
	if c.Kind == "vxlan" {
		// The tunnel carries every station of the remote hosts: the
		// per-port MAC limit is for one container (vxlan.go).
		d.dp.FDB(n.id).SetUnlimited(idx, true)
	}
	// vswitchd made this port: its neighbour entries need no ARP and no
	// neighbour solicitation (the IPv6 one is the port's --ip6, its MAC the
	// port's own, as port security holds it to).
	mac, _ := header.ParseMAC(c.MAC)
	if c.IP.IsValid() {
		d.dp.ARP().SetPermanent(c.IP.Addr(), mac, n.id)
	}
	if c.IP6.IsValid() {
		d.dp.ARP().SetPermanent(c.IP6.Addr(), mac, n.id)
	}
	return nil
}

// RemovePort unplugs a port and deletes its TAP (attached interfaces stay).
func (d *Daemon) RemovePort(name string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if rt, ok := d.ports[name]; ok && rt.cfg.Kind == "vxlan" {
		return conflict("port %s is the VXLAN tunnel of network %s: it goes with 'network rm %s'", name, rt.cfg.Network, rt.cfg.Network)
	}
	if err := d.removePortLocked(name); err != nil {
		return err
	}
	return d.st.save(d.opts.StateDir)
}

func (d *Daemon) removePortLocked(name string) error {
	rt, ok := d.ports[name]
	if !ok {
		return notFound("no port %s: 'vswitchctl port ls' lists them", name)
	}
	if err := d.checkRouteUsersLocked("", name); err != nil {
		return err
	}
	if rt.cfg.IP.IsValid() {
		d.dp.ARP().Delete(rt.cfg.IP.Addr())
	}
	if rt.cfg.IP6.IsValid() {
		d.dp.ARP().Delete(rt.cfg.IP6.Addr()) // permanent while the port is: not kept for the next holder
	}
	if rt.io != nil {
		if err := d.dp.RemovePort(rt.idx); err != nil {
			return &Error{Status: 500, Msg: err.Error()}
		}
		if rt.tap != nil {
			if err := rt.tap.Delete(); err != nil {
				d.log.Warn("deleting tap", "port", name, "err", err)
			}
		} else {
			rt.io.Close()
		}
	} else if rt.cfg.Kind == "tap" && netns.Exists(rt.cfg.NetnsPath) {
		// Down but its device may still be there: open it to delete it.
		if t, err := port.OpenTAP(rt.cfg.NetnsPath, rt.cfg.Ifname, 1); err == nil {
			t.Delete()
		}
	}
	cfg := *rt.cfg
	d.st.Ports = slices.DeleteFunc(d.st.Ports, func(p PortState) bool { return p.Name == name })
	d.st.StaticFDB = slices.DeleteFunc(d.st.StaticFDB, func(s StaticFDB) bool { return s.Port == name })
	delete(d.ports, name)
	d.relinkLocked()
	d.syncDNSLocked()
	if cfg.ResolvConf {
		// The file serves the namespace: hand it to a port still there.
		handed := false
		for i := range d.st.Ports {
			if d.st.Ports[i].NetnsPath == cfg.NetnsPath {
				d.st.Ports[i].ResolvConf, handed = true, true
				break
			}
		}
		if !handed {
			removeResolvConf(cfg.Netns)
		}
	}
	d.log.Info("port removed", "port", name)
	return nil
}
