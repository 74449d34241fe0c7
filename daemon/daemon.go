package daemon

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"sync"
	"time"

	"vswitch/dataplane"
	"vswitch/header"
	"vswitch/internal/netns"
	"vswitch/routing"
)

// Options configure a Daemon.
type Options struct {
	StateDir         string
	NoDefaultNetwork bool
	Workers          int
	WorkerNice       int           // scheduling priority of the forwarding threads
	WorkerSpin       time.Duration // how long an idle worker polls before it sleeps
	WorkerRT         int           // > 0: SCHED_FIFO priority of the workers
	WorkerIOUring    bool          // TAP reads and writes through a per-worker io_uring
	AFPacketRing     int           // AF_PACKET ports read through a TPACKET_V2 (2) or V3 (3) ring; 0: recvmmsg
	ConntrackMax     int           // most tracked connections; 0: package nat's default
	NATPortMin       uint16        // masquerade's port range when a flow's own port is taken;
	NATPortMax       uint16        // 0, 0: package nat's default
	DNSUpstreams     []string      // host:port resolvers the embedded DNS forwards to (ParseDNSUpstreams)
	Logger           *slog.Logger
	// Now is the clock connection listings are read at (remaining
	// timeouts); default time.Now. Tests freeze it.
	Now func() time.Time
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
	aclHits hitsMap     // by ACL rule ID; kept across rebuilds, not across restarts
	dns     dnsRT       // embedded DNS (dns.go)
	reload  reloadRT    // the --config file, for reload (reload.go)
	log     *slog.Logger
	stop    chan struct{} // closed by Close: ends the namespace watcher
	done    chan struct{}
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

// New loads the state, starts the dataplane and re-attaches every port.
func New(opts Options) (*Daemon, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := os.MkdirAll(opts.StateDir, 0o750); err != nil {
		return nil, fmt.Errorf("cannot create state dir %s: %v", opts.StateDir, err)
	}
	st, existed, err := openState(opts.StateDir, opts.Logger)
	if err != nil {
		return nil, err
	}
	d := &Daemon{opts: opts, st: st, nets: map[string]*netRT{}, ports: map[string]*portRT{},
		uplinks: map[string]*uplinkRT{}, aclHits: hitsMap{}, log: opts.Logger}
	d.dns.upstreams = opts.DNSUpstreams
	d.dp = dataplane.New(dataplane.Options{Workers: opts.Workers, Nice: opts.WorkerNice, Spin: opts.WorkerSpin, RTPriority: opts.WorkerRT, IOUring: opts.WorkerIOUring, Logger: opts.Logger,
		ConntrackMax: opts.ConntrackMax, NATPortMin: opts.NATPortMin, NATPortMax: opts.NATPortMax})
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
		// A VXLAN tunnel's namespace is the underlay's: the tunnel goes
		// with its network, not with it.
		if p.NetnsPath != "" && p.Kind != "vxlan" && !netns.Exists(p.NetnsPath) {
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

// restoreLocked rebuilds the dataplane from the state: networks and their
// ACLs, then ports (re-attaching persistent TAPs), static FDB entries,
// uplinks, routes and published ports. A port whose
// device cannot be opened stays configured but down, with the reason.
func (d *Daemon) restoreLocked() {
	for i := range d.st.Networks {
		n := &d.st.Networks[i]
		id, err := d.dp.AddNetwork(n.Name, fdbConfig(n))
		if err != nil {
			d.log.Error("cannot restore network", "network", n.Name, "err", err)
			continue
		}
		d.dp.SetNetworkVLAN(id, uint16(n.VLAN))
		d.nets[n.Name] = &netRT{cfg: n, id: id}
	}
	// The gateways before any port is plugged in. Static routes via an
	// uplink cannot resolve until the uplinks are back: the sync at the end
	// says what is wrong, this one stays quiet.
	_ = d.syncL3Locked()
	for _, n := range d.nets {
		d.syncACLLocked(n)
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
	d.syncPublishLocked()
	d.syncDNSLocked()
	for _, n := range d.nets {
		d.dp.SendGratuitous(n.id)
	}
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
	d.closeDNSLocked()
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

// randomMAC returns a locally administered unicast address.
func randomMAC() header.MAC {
	var m header.MAC
	rand.Read(m[:])
	m[0] = m[0]&0xfe | 0x02
	return m
}

// errStatus maps an error to the HTTP status the API answers with.
func errStatus(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 500
}
