package daemon

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"sort"
	"sync"
	"time"

	"vswitch/api"
	"vswitch/dataplane"
	"vswitch/dataplane/port"
	"vswitch/fdb"
	"vswitch/header"
	"vswitch/internal/netns"
	"vswitch/routing"
)

// Options configure a Daemon.
type Options struct {
	StateDir         string
	NoDefaultNetwork bool
	Workers          int
	WorkerNice       int // scheduling priority of the forwarding threads
	Logger           *slog.Logger
}

// Daemon owns the configuration (State), the dataplane built from it, and the
// devices of the ports. All changes go through its methods, under mu.
type Daemon struct {
	mu      sync.Mutex
	opts    Options
	st      *State
	dp      *dataplane.Dataplane
	nets    map[string]*netRT
	ports   map[string]*portRT
	uplinks map[string]*uplinkRT
	routes  routing.Set // last route set handed to the dataplane, for `route ls`
	log     *slog.Logger
	stop    chan struct{} // closed by Close: ends the namespace watcher
	done    chan struct{}
}

type netRT struct {
	cfg *NetworkState
	id  uint16
}

type portRT struct {
	cfg *PortState
	idx uint16         // 0 while down
	io  port.Port      // nil while down
	tap port.TAPDevice // set for TAP ports
	err string         // why it is down
}

// Error is an error with the HTTP status the API answers with.
type Error struct {
	Status int
	Msg    string
}

func (e *Error) Error() string { return e.Msg }

func badRequest(format string, a ...any) error {
	return &Error{Status: 400, Msg: fmt.Sprintf(format, a...)}
}
func notFound(format string, a ...any) error {
	return &Error{Status: 404, Msg: fmt.Sprintf(format, a...)}
}
func conflict(format string, a ...any) error {
	return &Error{Status: 409, Msg: fmt.Sprintf(format, a...)}
}

// DefaultNetwork is Docker's docker0: what vswitchd creates when it starts
// with no state and no --no-default-network.
var DefaultNetwork = api.NetworkCreate{Name: "bridge", Subnet: "172.17.0.0/16", Gateway: "172.17.0.1"}

// New loads the state, starts the dataplane and re-attaches every port.
func New(opts Options) (*Daemon, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if err := os.MkdirAll(opts.StateDir, 0o750); err != nil {
		return nil, fmt.Errorf("cannot create state dir %s: %v", opts.StateDir, err)
	}
	st, existed, err := loadState(opts.StateDir)
	if err != nil {
		return nil, err
	}
	d := &Daemon{opts: opts, st: st, nets: map[string]*netRT{}, ports: map[string]*portRT{},
		uplinks: map[string]*uplinkRT{}, log: opts.Logger}
	d.dp = dataplane.New(dataplane.Options{Workers: opts.Workers, Nice: opts.WorkerNice, Logger: opts.Logger})
	if err := d.dp.Start(); err != nil {
		return nil, fmt.Errorf("cannot start the dataplane: %v", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.restoreLocked()
	if !existed && !opts.NoDefaultNetwork {
		if _, err := d.createNetworkLocked(DefaultNetwork); err != nil {
			d.dp.Close()
			return nil, fmt.Errorf("cannot create the default network: %v", err)
		}
	}
	if err := d.st.save(d.opts.StateDir); err != nil {
		d.dp.Close()
		return nil, err
	}
	d.stop, d.done = make(chan struct{}), make(chan struct{})
	go d.watchNamespaces()
	return d, nil
}

// nsWatchInterval is how often vswitchd looks for namespaces that went away.
const nsWatchInterval = time.Second

// watchNamespaces removes the ports of namespaces that are gone (`ip netns
// del`, the owning process exited). An open TAP queue pins its namespace, so
// without this a deleted container's namespace would never be freed and its
// port would stay forever; this is what Docker does with the endpoint of a
// container that died.
func (d *Daemon) watchNamespaces() {
	defer close(d.done)
	t := time.NewTicker(nsWatchInterval)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-t.C:
			d.reapPorts()
		}
	}
}

func (d *Daemon) reapPorts() {
	d.mu.Lock()
	defer d.mu.Unlock()
	var gone []string
	for _, p := range d.st.Ports {
		if p.NetnsPath != "" && !netns.Exists(p.NetnsPath) {
			gone = append(gone, p.Name)
		}
	}
	for _, name := range gone {
		ns := d.ports[name].cfg.Netns
		if err := d.removePortLocked(name); err != nil {
			d.log.Warn("cannot remove the port of a namespace that is gone", "port", name, "netns", ns, "err", err)
			continue
		}
		d.log.Info("namespace gone: port removed", "port", name, "netns", ns)
	}
	if len(gone) > 0 {
		if err := d.st.save(d.opts.StateDir); err != nil {
			d.log.Error("cannot save state", "err", err)
		}
	}
}

// restoreLocked rebuilds the dataplane from the state: networks, then ports
// (re-attaching persistent TAPs), then static FDB entries. A port whose
// device cannot be opened stays configured but down, with the reason.
func (d *Daemon) restoreLocked() {
	for i := range d.st.Networks {
		n := &d.st.Networks[i]
		id, err := d.dp.AddNetwork(n.Name, fdbConfig(n))
		if err != nil {
			d.log.Error("cannot restore network", "network", n.Name, "err", err)
			continue
		}
		d.nets[n.Name] = &netRT{cfg: n, id: id}
	}
	if err := d.syncL3Locked(); err != nil {
		d.log.Error("cannot restore routing", "err", err)
	}
	for i := range d.st.Ports {
		p := &d.st.Ports[i]
		rt := &portRT{cfg: p}
		d.ports[p.Name] = rt
		if err := d.openPortLocked(rt); err != nil {
			rt.err = err.Error()
			d.log.Warn("port is down: cannot re-attach its device", "port", p.Name, "err", err)
			continue
		}
		d.log.Info("port re-attached", "port", p.Name, "netns", p.Netns, "ifname", p.Ifname)
	}
	for _, s := range d.st.StaticFDB {
		if err := d.applyStaticLocked(s); err != nil {
			d.log.Warn("cannot restore static FDB entry", "mac", s.MAC, "port", s.Port, "err", err)
		}
	}
	for i := range d.st.Uplinks {
		u := &d.st.Uplinks[i]
		rt := &uplinkRT{cfg: u}
		d.uplinks[u.Name] = rt
		if err := d.openUplinkLocked(rt); err != nil {
			rt.err = err.Error()
			d.log.Warn("uplink is down: cannot re-attach its interface", "uplink", u.Name, "err", err)
		}
	}
	if err := d.syncL3Locked(); err != nil {
		d.log.Error("cannot restore routing", "err", err)
	}
	for _, n := range d.nets {
		d.dp.SendGratuitous(n.id)
	}
}

func fdbConfig(n *NetworkState) fdb.Config {
	return fdb.Config{Aging: time.Duration(n.FDBAging) * time.Second, MACLimit: n.MACLimit}
}

// Close stops forwarding. Devices stay: TAPs are persistent and keep their
// addresses, so the next vswitchd picks them up.
func (d *Daemon) Close() {
	if d.stop != nil {
		select {
		case <-d.stop:
			return // closed already
		default:
			close(d.stop)
			<-d.done
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.dp.Close()
	for _, p := range d.ports {
		if p.tap != nil {
			p.tap.Close()
		} else if p.io != nil {
			p.io.Close()
		}
	}
	for _, u := range d.uplinks {
		if u.io != nil {
			u.io.Close()
		}
	}
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)

func checkName(kind, name string) error {
	if !nameRE.MatchString(name) {
		return badRequest("bad %s name %q: use letters, digits, '.', '_' and '-', starting with a letter or digit", kind, name)
	}
	return nil
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
	ns := NetworkState{
		Name: req.Name, Subnet: subnet, Gateway: gw, GatewayMAC: randomMAC().String(),
		Internal: req.Internal, ICC: icc, Masquerade: !req.NoMasquerade && !req.Internal,
		MTU: mtu, FDBAging: aging, MACLimit: limit,
	}
	id, err := d.dp.AddNetwork(ns.Name, fdbConfig(&ns))
	if err != nil {
		return nil, &Error{Status: 500, Msg: err.Error()}
	}
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

// randomMAC returns a locally administered unicast address.
func randomMAC() header.MAC {
	var m header.MAC
	rand.Read(m[:])
	m[0] = m[0]&0xfe | 0x02
	return m
}

// RemoveNetwork removes a network; with force its ports go first.
func (d *Daemon) RemoveNetwork(name string, force bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	n, ok := d.nets[name]
	if !ok {
		return notFound("no network %s: 'vswitchctl network ls' lists them", name)
	}
	var names []string
	for _, p := range d.st.Ports {
		if p.Network == name {
			names = append(names, p.Name)
		}
	}
	if len(names) > 0 && !force {
		return conflict("network %s has %d port(s) (%v): remove them with 'port rm' or use --force", name, len(names), names)
	}
	if err := d.checkRouteUsersLocked(name, ""); err != nil {
		return err
	}
	for _, pn := range names {
		if err := d.removePortLocked(pn); err != nil {
			return err
		}
	}
	if err := d.dp.RemoveNetwork(n.id); err != nil {
		return &Error{Status: 500, Msg: err.Error()}
	}
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
		FDBAging: c.FDBAging, MACLimit: c.MACLimit, Ports: []api.Port{}, Connected: slices.Clone(c.Connected),
	}
	if v.Connected == nil {
		v.Connected = []string{}
	}
	slices.Sort(v.Connected)
	for i := range d.st.Ports {
		if d.st.Ports[i].Network == c.Name {
			v.Ports = append(v.Ports, d.portViewLocked(d.ports[d.st.Ports[i].Name]))
		}
	}
	return v
}

func (d *Daemon) portViewLocked(p *portRT) api.Port {
	c := p.cfg
	v := api.Port{Name: c.Name, Network: c.Network, Kind: c.Kind, Netns: c.Netns, Ifname: c.Ifname,
		MAC: c.MAC, MTU: c.MTU, State: "up"}
	if c.IP.IsValid() {
		v.IP = c.IP.String()
	}
	if p.io == nil {
		v.State = "down"
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
		if network == "" || p.Network == network {
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
	ps := PortState{Name: name, Network: n.cfg.Name, Kind: "tap", Netns: req.Netns, NetnsPath: nsPath,
		Ifname: ifname, MAC: mac.String(), IP: ip, MTU: n.cfg.MTU, NoDefaultRoute: req.NoDefaultRoute}
	return d.plugPortLocked(ps)
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
	n, ok := d.nets[req.Network]
	if !ok {
		return api.Port{}, notFound("no network %s: create it with 'vswitchctl network create %s --subnet CIDR'", req.Network, req.Network)
	}
	if req.Dev == "" {
		return api.Port{}, badRequest("no interface given: pass --dev IF")
	}
	nsPath := ""
	if req.Netns != "" {
		var err error
		if nsPath, err = netns.Path(req.Netns); err != nil {
			return api.Port{}, badRequest("%v", err)
		}
	}
	if err := d.devInUseLocked(nsPath, req.Dev); err != nil {
		return api.Port{}, err
	}
	base := req.Dev
	if req.Netns != "" {
		base = netns.ShortName(req.Netns)
	}
	name, err := d.portNameLocked(req.Name, base, req.Dev)
	if err != nil {
		return api.Port{}, err
	}
	return d.plugPortLocked(PortState{Name: name, Network: n.cfg.Name, Kind: "afpacket", Netns: req.Netns,
		NetnsPath: nsPath, Ifname: req.Dev, MTU: n.cfg.MTU})
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
		tc := tapConfig{ifname: c.Ifname, mac: mac, ip: c.IP, mtu: c.MTU}
		if !c.NoDefaultRoute && !n.cfg.Internal {
			tc.gateway = n.cfg.Gateway
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
		af, err := port.OpenAFPacket(c.NetnsPath, c.Ifname)
		if err != nil {
			return err
		}
		c.MAC = af.MAC().String()
		io = af
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
	rt.io, rt.idx, rt.err = io, idx, ""
	if c.IP.IsValid() {
		// vswitchd made this port: its neighbour entry needs no ARP.
		mac, _ := header.ParseMAC(c.MAC)
		d.dp.ARP().SetPermanent(c.IP.Addr(), mac, n.id)
	}
	return nil
}

// RemovePort unplugs a port and deletes its TAP (attached interfaces stay).
func (d *Daemon) RemovePort(name string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
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
	d.st.Ports = slices.DeleteFunc(d.st.Ports, func(p PortState) bool { return p.Name == name })
	d.st.StaticFDB = slices.DeleteFunc(d.st.StaticFDB, func(s StaticFDB) bool { return s.Port == name })
	delete(d.ports, name)
	d.relinkLocked()
	d.log.Info("port removed", "port", name)
	return nil
}

// FDB lists MAC entries, of one network if network is not empty.
func (d *Daemon) FDB(network string) ([]api.FDBEntry, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.checkNetworkLocked(network); err != nil {
		return nil, err
	}
	names := d.portNamesLocked()
	now := time.Now().UnixNano()
	out := []api.FDBEntry{}
	for i := range d.st.Networks {
		n := d.nets[d.st.Networks[i].Name]
		if network != "" && n.cfg.Name != network {
			continue
		}
		for _, e := range d.dp.FDB(n.id).Entries(now) {
			out = append(out, api.FDBEntry{MAC: header.MACFromUint64(e.MAC).String(), Port: names[e.Port],
				Network: n.cfg.Name, AgeS: int64(e.Age / time.Second), Static: e.Static})
		}
	}
	return out, nil
}

// AddStaticFDB pins a MAC to a port.
func (d *Daemon) AddStaticFDB(req api.FDBAdd) (api.FDBEntry, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	m, err := header.ParseMAC(req.MAC)
	if err != nil {
		return api.FDBEntry{}, badRequest("%v", err)
	}
	s := StaticFDB{MAC: m.String(), Port: req.Port}
	if err := d.applyStaticLocked(s); err != nil {
		return api.FDBEntry{}, err
	}
	d.st.StaticFDB = slices.DeleteFunc(d.st.StaticFDB, func(x StaticFDB) bool {
		return x.MAC == s.MAC && d.ports[x.Port] != nil && d.ports[x.Port].cfg.Network == d.ports[s.Port].cfg.Network
	})
	d.st.StaticFDB = append(d.st.StaticFDB, s)
	if err := d.st.save(d.opts.StateDir); err != nil {
		return api.FDBEntry{}, err
	}
	return api.FDBEntry{MAC: s.MAC, Port: s.Port, Network: d.ports[s.Port].cfg.Network, Static: true}, nil
}

func (d *Daemon) applyStaticLocked(s StaticFDB) error {
	m, err := header.ParseMAC(s.MAC)
	if err != nil {
		return badRequest("%v", err)
	}
	if m.IsMulticast() || m.IsZero() {
		return badRequest("MAC %s is multicast or zero: static entries are for unicast addresses", m)
	}
	rt, ok := d.ports[s.Port]
	if !ok {
		return notFound("no port %s: 'vswitchctl port ls' lists them", s.Port)
	}
	if rt.io == nil {
		return conflict("port %s is down (%s): static entries need a working port", s.Port, rt.err)
	}
	n := d.nets[rt.cfg.Network]
	if err := d.dp.FDB(n.id).AddStatic(m.Uint64(), rt.idx); err != nil {
		return badRequest("%v", err)
	}
	return nil
}

// DelFDB removes an entry (static or learned) from a network's table.
func (d *Daemon) DelFDB(macStr, network string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	m, err := header.ParseMAC(macStr)
	if err != nil {
		return badRequest("%v", err)
	}
	if network == "" {
		return badRequest("no network given: pass --network NAME")
	}
	n, ok := d.nets[network]
	if !ok {
		return notFound("no network %s: 'vswitchctl network ls' lists them", network)
	}
	if !d.dp.FDB(n.id).Delete(m.Uint64()) {
		return notFound("MAC %s is not in the FDB of network %s", m, network)
	}
	before := len(d.st.StaticFDB)
	d.st.StaticFDB = slices.DeleteFunc(d.st.StaticFDB, func(x StaticFDB) bool {
		return x.MAC == m.String() && d.ports[x.Port] != nil && d.ports[x.Port].cfg.Network == network
	})
	if len(d.st.StaticFDB) != before {
		return d.st.save(d.opts.StateDir)
	}
	return nil
}

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

// errStatus maps an error to the HTTP status the API answers with.
func errStatus(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 500
}
