package daemon

// Config reload: SIGHUP and `vswitchctl reload` read the --config file
// again and apply what changed since it was last applied; every start
// applies the file the same way.
//
// The state records what the file made or adopted the last time
// (AppliedConfig): its entries, the port each port entry made, the rule
// each publish or ACL entry made. The new file is compared with that
// record and with the state, and the difference becomes a plan of
// operations: rules the file no longer names removed, network options
// changed, networks, ports and rules added, ports and networks the file no
// longer names removed. What the plan does not name is not touched: no
// port is re-opened, no table flushed, conntrack kept.
//
// It is all or nothing. Everything that can be judged before acting is
// checked first (LoadConfig for the file alone, planConfig against the
// state): options that cannot change on a running network, a removed
// network that still has ports, an overlap. Then the operations run in an
// order where every one that can fail can also be undone, and the ones
// that cannot be undone (deleting a port's TAP, a network) come last and
// were checked in the plan; when one fails, those before it are undone.

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"sync"

	"vswitch/api"
	"vswitch/policy"
)

// AppliedConfig is the record, in the state, of the config file last
// applied: the file's entries and what each one made or adopted, so the
// next apply knows what the file no longer names and what changed.
type AppliedConfig struct {
	File   string `json:"file"`
	SHA256 string `json:"sha256"` // of the file's bytes
	Config Config `json:"applied"`
	// What each entry of Config.Ports, .Attach, .Publish and .ACLs made or
	// adopted, by the entry's index: a port's name, a rule's ID.
	Ports   []string `json:"ports,omitempty"`
	Attach  []string `json:"attach,omitempty"`
	Publish []int    `json:"publish,omitempty"`
	ACLs    []int    `json:"acls,omitempty"`
}

// reloadRT is the Daemon's reload state.
type reloadRT struct {
	mu   sync.Mutex // one apply at a time; held across the whole plan and run
	path string     // the --config file; empty without one
}

// Apply applies a config at start (vswitchd --config): what the file
// names and the state lacks is created, what it named last time and no
// longer does is removed, changed options are applied; an entry that
// exists already but was not the file's (made with vswitchctl, or before
// the state recorded the file) is adopted as it is. The file becomes the
// one Reload reads.
func (d *Daemon) Apply(c *Config) error {
	_, err := d.applyConfig(c, true)
	return err
}

// Reload reads the --config file again and applies it as Apply does; the
// daemon's settings (conntrack_max, nat_ports) cannot change while it
// runs. A file with a mistake changes nothing.
func (d *Daemon) Reload() (api.Reload, error) {
	d.reload.mu.Lock()
	path := d.reload.path
	d.reload.mu.Unlock()
	if path == "" {
		return api.Reload{}, conflict("vswitchd was started without --config: there is no file to reload (start it with --config FILE)")
	}
	c, err := LoadConfig(path)
	if err != nil {
		return api.Reload{File: path}, badRequest("%v; nothing was changed", err)
	}
	changes, err := d.applyConfig(c, false)
	if err != nil {
		return api.Reload{File: path}, err
	}
	return api.Reload{File: path, Changes: changes}, nil
}

func (d *Daemon) applyConfig(c *Config, startup bool) ([]string, error) {
	d.reload.mu.Lock()
	defer d.reload.mu.Unlock()
	p, err := d.planConfig(c, startup)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return nil, &Error{Status: e.Status, Msg: e.Msg + "; nothing was changed"}
		}
		return nil, err
	}
	changes, err := p.run(d)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.st.Config = &p.rec
	d.reload.path = c.path
	if err := d.st.save(d.opts.StateDir); err != nil {
		return nil, err
	}
	for _, ch := range changes {
		d.log.Info("config applied", "file", c.path, "change", ch)
	}
	if changes == nil {
		changes = []string{}
	}
	return changes, nil
}

// configPlan is what applying a config will do.
type configPlan struct {
	c   *Config
	ops []reloadOp
	rec AppliedConfig // the record once it ran (run fills in what adds make)
}

// reloadOp is one step of a plan. do returns the change as reload prints
// it; undo reverses a do that succeeded (nil: it cannot be, and the plan
// checked it cannot fail).
type reloadOp struct {
	at   string // the entry it comes from (networks[1]), for the line of an error
	do   func() (string, error)
	undo func()
}

// planned sorts a plan's operations: every one that can be undone before
// every one that cannot.
const (
	stepRulesOut = iota
	stepOptions
	stepNetworksIn
	stepPortsIn
	stepRulesIn
	stepPortsOut
	stepNetworksOut
	nSteps
)

// errAt is a refusal at the entry or value at path, in the words of
// LoadConfig's: "config FILE line N: path: msg".
func (c *Config) errAt(status int, path, format string, a ...any) error {
	le := &lineError{line: lineOf(c.lines, path), msg: path + ": " + fmt.Sprintf(format, a...)}
	return &Error{Status: status, Msg: fmt.Sprintf("config %s %v", c.path, le)}
}

// errFile is a refusal about no line of the file (something it no longer
// names).
func (c *Config) errFile(status int, format string, a ...any) error {
	return &Error{Status: status, Msg: fmt.Sprintf("config %s: %s", c.path, fmt.Sprintf(format, a...))}
}

func (d *Daemon) planConfig(c *Config, startup bool) (*configPlan, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var old Config
	prev := d.st.Config
	if prev != nil {
		old = prev.Config
	} else {
		prev = &AppliedConfig{}
	}
	p := &configPlan{c: c, rec: AppliedConfig{File: c.path, SHA256: c.sum, Config: *c,
		Ports: make([]string, len(c.Ports)), Attach: make([]string, len(c.Attach)),
		Publish: make([]int, len(c.Publish)), ACLs: make([]int, len(c.ACLs))}}
	steps := make([][]reloadOp, nSteps)
	add := func(step int, op reloadOp) { steps[step] = append(steps[step], op) }
	adopted := func(at, what string) {
		add(stepOptions, reloadOp{at: at, do: func() (string, error) { return what + ": existed already, adopted as it is", nil }, undo: func() {}})
	}

	// The daemon's settings are read once, at start.
	if !startup {
		if c.ConntrackMax != old.ConntrackMax {
			return nil, c.errAt(409, "conntrack_max", "cannot change while vswitchd runs (the connection table is sized at start): restart vswitchd to apply it")
		}
		if c.NATPorts != old.NATPorts {
			return nil, c.errAt(409, "nat_ports", "cannot change while vswitchd runs: restart vswitchd to apply it")
		}
	}

	// Networks.
	inFile := map[string]bool{}
	for _, n := range c.Networks {
		inFile[n.Name] = true
	}
	wasInFile := map[string]api.NetworkCreate{}
	for _, n := range old.Networks {
		wasInFile[n.Name] = n
	}
	for i, n := range c.Networks {
		k := fmt.Sprintf("networks[%d]", i)
		rt, exists := d.nets[n.Name]
		o, was := wasInFile[n.Name]
		switch {
		case !exists:
			subnet, _ := netip.ParsePrefix(n.Subnet) // checked by LoadConfig
			for _, s := range d.st.Networks {
				if s.Subnet.Overlaps(subnet) {
					return nil, c.errAt(409, k+".subnet", "subnet %s overlaps %s of network %s: pick a subnet that does not", subnet, s.Subnet, s.Name)
				}
			}
			for _, u := range d.st.Uplinks {
				if u.IP.Masked().Overlaps(subnet) {
					return nil, c.errAt(409, k+".subnet", "subnet %s overlaps %s of uplink %s: pick a subnet that does not", subnet, u.IP.Masked(), u.Name)
				}
			}
			req := n
			add(stepNetworksIn, reloadOp{at: k,
				do: func() (string, error) {
					v, err := d.CreateNetwork(req)
					if err != nil {
						return "", err
					}
					return fmt.Sprintf("network %s: created, subnet %s, gateway %s", v.Name, v.Subnet, v.Gateway), nil
				},
				undo: func() { d.undo("remove network "+req.Name, d.RemoveNetwork(req.Name, true)) },
			})
		case !was:
			adopted(k, "network "+n.Name)
		default:
			changes, err := networkChanges(c, k, o, n, rt.cfg)
			if err != nil {
				return nil, err
			}
			if len(changes) == 0 {
				continue
			}
			before, after := optionsOf(rt.cfg), wantOptions(n)
			name := n.Name
			add(stepOptions, reloadOp{at: k,
				do: func() (string, error) {
					if err := d.setNetworkOptions(name, after); err != nil {
						return "", err
					}
					return strings.Join(changes, "\n"), nil
				},
				undo: func() { d.undo("restore the options of network "+name, d.setNetworkOptions(name, before)) },
			})
		}
	}

	// Ports and attached interfaces: an entry is known by its name, else
	// by its namespace and interface.
	netOK := func(k, network string) error {
		if !inFile[network] {
			if _, ok := d.nets[network]; !ok {
				return c.errAt(404, k+".network", "no network %s: add it to the file's networks or create it with 'vswitchctl network create'", network)
			}
			if _, ok := wasInFile[network]; ok {
				return c.errAt(409, k+".network", "network %s is taken out of the file: keep it, or put the port on another network", network)
			}
		}
		return nil
	}
	pc := &planCtx{d: d, c: c, add: add, adopted: adopted, netOK: netOK, removing: map[string]bool{}, unpublishing: map[int]bool{}}
	if err := planPorts(pc, "ports", old.Ports, c.Ports, prev.Ports, p.rec.Ports,
		func(a api.PortAdd) string {
			if a.Name != "" {
				return "name " + a.Name
			}
			return "netns " + a.Netns + " ifname " + a.Ifname
		},
		func(a api.PortAdd) string { return d.portOfLocked(a.Name, a.Netns, a.Ifname) },
		func(a api.PortAdd) string { return a.Network },
		d.AddPort); err != nil {
		return nil, err
	}
	if err := planPorts(pc, "attach", old.Attach, c.Attach, prev.Attach, p.rec.Attach,
		func(a api.PortAttach) string {
			if a.Name != "" {
				return "name " + a.Name
			}
			return "netns " + a.Netns + " dev " + a.Dev
		},
		func(a api.PortAttach) string { return d.portOfLocked(a.Name, a.Netns, a.Dev) },
		func(a api.PortAttach) string { return a.Network },
		d.AttachPort); err != nil {
		return nil, err
	}

	// Published ports and ACL rules: an entry is known by all its fields;
	// one that changed is the old rule removed and a new one added.
	if err := planRules(pc, "publish", old.Publish, c.Publish, prev.Publish, p.rec.Publish,
		func(id int) bool {
			return slices.ContainsFunc(d.st.Publish, func(r PublishState) bool { return r.ID == id })
		},
		func(r api.PublishAdd) int { return d.publishIDLocked(r) },
		func(r api.PublishAdd) (int, string, error) {
			v, err := d.AddPublish(r)
			return v.ID, fmt.Sprintf("publish rule %d: added, %s %s:%d -> %s on network %s", v.ID, v.Proto, v.HostIP, v.HostPort, v.To, v.Network), err
		},
		func(id int) (string, func(), error) {
			s, err := d.takePublish(id)
			return fmt.Sprintf("publish rule %d: removed (%s %d -> %s on network %s)", id, s.Proto, s.HostPort, s.To, s.Network),
				func() { d.putPublish(s) }, err
		},
		func(id int) { d.undo(fmt.Sprintf("remove publish rule %d", id), d.RemovePublish(fmt.Sprint(id))) },
		pc.unpublishing); err != nil {
		return nil, err
	}
	if err := planRules(pc, "acls", old.ACLs, c.ACLs, prev.ACLs, p.rec.ACLs,
		func(id int) bool { return slices.ContainsFunc(d.st.ACLs, func(r ACLState) bool { return r.ID == id }) },
		func(r api.ACLAdd) int { return d.aclIDLocked(r) },
		func(r api.ACLAdd) (int, string, error) {
			v, err := d.AddACL(r)
			return v.ID, fmt.Sprintf("acl rule %d: added to network %s, %s", v.ID, v.Network, v.Action), err
		},
		func(id int) (string, func(), error) {
			s, err := d.takeACL(id)
			return fmt.Sprintf("acl rule %d: removed from network %s", id, s.Network), func() { d.putACL(s) }, err
		},
		func(id int) { d.undo(fmt.Sprintf("remove ACL rule %d", id), d.RemoveACL(fmt.Sprint(id))) },
		nil); err != nil {
		return nil, err
	}

	// Networks the file no longer names go last, and only when nothing the
	// file does not remove too is left on them.
	for _, o := range old.Networks {
		name := o.Name
		rt, ok := d.nets[name]
		if inFile[name] || !ok {
			continue
		}
		var left []string
		for _, ps := range d.st.Ports {
			if ps.Network == name && ps.Kind != "vxlan" && !pc.removing[ps.Name] { // the tunnel goes with the network
				left = append(left, ps.Name)
			}
		}
		if len(left) > 0 {
			return nil, c.errFile(409, "network %s is taken out of the file but has %d port(s) the file does not remove (%s): remove them with 'vswitchctl port rm', or keep the network in the file",
				name, len(left), strings.Join(left, ", "))
		}
		var pubs []string
		for _, id := range d.publishUsersLocked(name, rt.cfg.Gateway) {
			if !pc.unpublishing[id] {
				pubs = append(pubs, fmt.Sprint(id))
			}
		}
		if len(pubs) > 0 {
			return nil, c.errFile(409, "network %s is taken out of the file but ports are published into it (rule(s) %s): remove them with 'vswitchctl publish rm', or keep the network in the file",
				name, strings.Join(pubs, ", "))
		}
		if err := d.checkRouteUsersLocked(name, ""); err != nil {
			return nil, c.errFile(409, "network %s is taken out of the file, but %v", name, err)
		}
		add(stepNetworksOut, reloadOp{do: func() (string, error) {
			if err := d.RemoveNetwork(name, false); err != nil {
				return "", err
			}
			return fmt.Sprintf("network %s: removed", name), nil
		}})
	}
	for _, s := range steps {
		p.ops = append(p.ops, s...)
	}
	return p, nil
}

// planCtx is what planConfig's sections share.
type planCtx struct {
	d            *Daemon
	c            *Config
	add          func(step int, op reloadOp)
	adopted      func(at, what string)
	netOK        func(k, network string) error // may an entry at k use network?
	removing     map[string]bool               // ports the plan removes
	unpublishing map[int]bool                  // publish rules the plan removes
}

// planPorts plans the port or attach entries of a file: T is the entry,
// oldNames the port each old entry made (AppliedConfig), rec where the
// new entries' ports are recorded. An entry is known by key: its name,
// else its namespace and interface.
func planPorts[T any](pc *planCtx, section string, olds, news []T, oldNames, rec []string,
	key func(T) string, find func(T) string, network func(T) string, addPort func(T) (api.Port, error)) error {
	c, d := pc.c, pc.d
	oldAt := map[string]int{}
	for i, e := range olds {
		oldAt[key(e)] = i
	}
	newAt := map[string]int{}
	for i, e := range news {
		k := fmt.Sprintf("%s[%d]", section, i)
		if j, ok := newAt[key(e)]; ok {
			return c.errAt(400, k, "the same port as %s[%d] (%s): give each entry its own name, or namespace and interface", section, j, key(e))
		}
		newAt[key(e)] = i
		if j, ok := oldAt[key(e)]; ok && j < len(oldNames) && d.ports[oldNames[j]] != nil {
			name := oldNames[j]
			if diff := changedKeys(olds[j], e); len(diff) > 0 {
				return c.errAt(409, k+"."+diff[0], "port %s: %s cannot change on a running port (the port would be made again): take the entry out of the file and reload, then put it back",
					name, strings.Join(diff, ", "))
			}
			rec[i] = name
			continue
		}
		if name := find(e); name != "" {
			rec[i] = name
			if !slices.Contains(oldNames, name) {
				pc.adopted(k, "port "+name)
			}
			continue
		}
		if err := pc.netOK(k, network(e)); err != nil {
			return err
		}
		entry, i := e, i
		pc.add(stepPortsIn, reloadOp{at: k,
			do: func() (string, error) {
				v, err := addPort(entry)
				if err != nil {
					return "", err
				}
				rec[i] = v.Name
				where := v.Ifname
				if v.Netns != "" {
					where = "netns " + v.Netns + ", " + v.Ifname
				}
				if v.IP != "" {
					where += ", " + v.IP
				}
				return fmt.Sprintf("port %s: added to network %s (%s)", v.Name, v.Network, where), nil
			},
			undo: func() { d.undo("remove port "+rec[i], d.RemovePort(rec[i])) },
		})
	}
	for j, e := range olds {
		if _, ok := newAt[key(e)]; ok || j >= len(oldNames) {
			continue
		}
		name := oldNames[j]
		if d.ports[name] == nil || slices.Contains(rec, name) {
			continue // gone already (port rm, its namespace deleted), or a new entry's now
		}
		if err := d.checkRouteUsersLocked("", name); err != nil {
			return c.errFile(409, "port %s is taken out of the file, but %v", name, err)
		}
		pc.removing[name] = true
		pc.add(stepPortsOut, reloadOp{do: func() (string, error) {
			if err := d.RemovePort(name); err != nil {
				return "", err
			}
			return fmt.Sprintf("port %s: removed", name), nil
		}})
	}
	return nil
}

// planRules plans the publish or ACL entries of a file: T is the entry,
// ids what the last apply recorded for the old entries, rec where the new
// entries' rules are recorded. An entry is known by all its fields.
func planRules[T any](pc *planCtx, section string, olds, news []T, ids, rec []int,
	exists func(id int) bool, find func(T) int, create func(T) (int, string, error),
	take func(id int) (string, func(), error), remove func(id int), removed map[int]bool) error {
	c, add, adopted, netOK := pc.c, pc.add, pc.adopted, pc.netOK
	key := func(e T) string { b, _ := json.Marshal(e); return string(b) }
	network := func(e T) string { return reflect.ValueOf(e).FieldByName("Network").String() }
	oldAt := map[string]int{}
	for i, e := range olds {
		oldAt[key(e)] = i
	}
	newAt := map[string]int{}
	for i, e := range news {
		k := fmt.Sprintf("%s[%d]", section, i)
		if j, ok := newAt[key(e)]; ok {
			return c.errAt(400, k, "the same rule as %s[%d]: give it once", section, j)
		}
		newAt[key(e)] = i
		if j, ok := oldAt[key(e)]; ok && j < len(ids) && exists(ids[j]) {
			rec[i] = ids[j]
			continue
		}
		if id := find(e); id != 0 {
			rec[i] = id
			if !slices.Contains(ids, id) {
				adopted(k, fmt.Sprintf("%s rule %d", strings.TrimSuffix(section, "s"), id))
			}
			continue
		}
		if err := netOK(k, network(e)); err != nil {
			return err
		}
		entry, i := e, i
		add(stepRulesIn, reloadOp{at: k,
			do: func() (string, error) {
				id, what, err := create(entry)
				if err != nil {
					return "", err
				}
				rec[i] = id
				return what, nil
			},
			undo: func() { remove(rec[i]) },
		})
	}
	for j, e := range olds {
		if _, ok := newAt[key(e)]; ok || j >= len(ids) || !exists(ids[j]) || slices.Contains(rec, ids[j]) {
			continue // kept, gone already, or a new entry's now (the same rule written another way)
		}
		id := ids[j]
		if removed != nil {
			removed[id] = true
		}
		var put func()
		add(stepRulesOut, reloadOp{
			do: func() (string, error) {
				what, undo, err := take(id)
				put = undo
				return what, err
			},
			undo: func() { put() },
		})
	}
	return nil
}

// run carries out a plan; when an operation fails, those before it are
// undone, and the error names the entry of the file it came from.
func (p *configPlan) run(d *Daemon) ([]string, error) {
	var done []reloadOp
	var changes []string
	for _, op := range p.ops {
		what, err := op.do()
		if err != nil {
			partial := false
			for j := len(done) - 1; j >= 0; j-- {
				if done[j].undo == nil {
					partial = true
					continue
				}
				done[j].undo()
			}
			status := errStatus(err)
			if status == 500 {
				status = 409
			}
			tail := "nothing was changed"
			if partial {
				tail = "what was removed before it stays removed"
			}
			if op.at == "" {
				return nil, p.c.errFile(status, "%v; %s", err, tail)
			}
			return nil, p.c.errAt(status, op.at, "%v; %s", err, tail)
		}
		done = append(done, op)
		if what != "" {
			changes = append(changes, strings.Split(what, "\n")...)
		}
	}
	return changes, nil
}

// undo logs an undo that failed: the daemon is then between the old and
// the new config, and the operator must know.
func (d *Daemon) undo(what string, err error) {
	if err != nil {
		d.log.Error("config apply failed and could not be undone entirely", "undo", what, "err", err)
	}
}

// netOptions are the options of a network that can change while it runs:
// each is read by the dataplane from a table it swaps whole (the router's
// interfaces, the FDB's settings, the ACL, the ports' guards), so a change
// reaches the next frame and disturbs nothing else.
type netOptions struct {
	ICC            bool
	Masquerade     bool
	FDBAging       int
	MACLimit       int
	ACLDefault     string
	NoPortSecurity bool
	StormLimit     int
	ConnRate       int
}

// liveKeys are the config keys of netOptions; every other key of a
// network cannot change while it exists.
var liveKeys = []string{"icc", "no_masquerade", "fdb_aging_s", "mac_limit", "acl_default", "port_security", "storm_limit", "conn_rate"}

func optionsOf(n *NetworkState) netOptions {
	return netOptions{ICC: n.ICC, Masquerade: n.Masquerade, FDBAging: n.FDBAging, MACLimit: n.MACLimit,
		ACLDefault: aclDefault(n).String(), NoPortSecurity: n.NoPortSecurity, StormLimit: n.StormLimit, ConnRate: n.ConnRate}
}

// wantOptions are the options a network entry asks for, with the defaults
// of createNetworkLocked for what it leaves out.
func wantOptions(req api.NetworkCreate) netOptions {
	o := netOptions{ICC: true, Masquerade: !req.NoMasquerade && !req.Internal, FDBAging: 300, MACLimit: 1024,
		ACLDefault: "allow", StormLimit: req.StormLimit, ConnRate: req.ConnRate}
	if req.ICC != nil {
		o.ICC = *req.ICC
	}
	if req.FDBAging != nil {
		o.FDBAging = *req.FDBAging
	}
	if req.MACLimit != nil {
		o.MACLimit = *req.MACLimit
	}
	if req.ACLDefault != "" {
		o.ACLDefault = req.ACLDefault
	}
	if req.PortSecurity != nil {
		o.NoPortSecurity = !*req.PortSecurity
	}
	return o
}

// networkChanges compares a network's entry with the running network (cur)
// and with its entry the last time (old): one line per live option that
// changes, or a refusal naming the first option that cannot change.
func networkChanges(c *Config, k string, old, req api.NetworkCreate, cur *NetworkState) ([]string, error) {
	fixed := func(key, why string) error {
		return c.errAt(409, k+"."+key, "network %s: %s cannot change while the network exists (%s): take the network (and its ports) out of the file and reload, then put it back changed",
			cur.Name, key, why)
	}
	subnet, _ := netip.ParsePrefix(req.Subnet) // checked by LoadConfig
	if subnet != cur.Subnet {
		return nil, fixed("subnet", "its gateway, ports and routes are on it")
	}
	// A value left out, as it was last time, is what the daemon chose then
	// (an overlay network's MTU is the underlay's less the tunnel's); left
	// out now but given then, it is the plain default.
	gw := cur.Gateway
	if req.Gateway != "" {
		gw, _ = netip.ParseAddr(req.Gateway)
	} else if old.Gateway != "" {
		gw = subnet.Addr().Next()
	}
	if gw != cur.Gateway {
		return nil, fixed("gateway", "its ports route through it")
	}
	if req.Internal != cur.Internal {
		return nil, fixed("internal", "its ports' default routes and published ports depend on it")
	}
	mtu := cur.MTU
	if req.MTU != 0 {
		mtu = req.MTU
	} else if old.MTU != 0 {
		mtu = 1500
	}
	if mtu != cur.MTU {
		return nil, fixed("mtu", "it is set on the interfaces of its ports")
	}
	// Keys this code does not know (options added later) cannot change
	// either, until someone decides they can.
	known := append([]string{"name", "subnet", "gateway", "internal", "mtu"}, liveKeys...)
	if diff := changedKeys(old, req); len(diff) > 0 {
		for _, key := range diff {
			if !slices.Contains(known, key) {
				return nil, fixed(key, "it is not an option vswitchd changes on a running network")
			}
		}
	}
	was, want := optionsOf(cur), wantOptions(req)
	var lines []string
	say := func(key string, from, to any) {
		if from != to {
			lines = append(lines, fmt.Sprintf("network %s: %s %v -> %v", cur.Name, key, from, to))
		}
	}
	say("icc", was.ICC, want.ICC)
	say("masquerade", was.Masquerade, want.Masquerade)
	say("fdb_aging_s", was.FDBAging, want.FDBAging)
	say("mac_limit", was.MACLimit, want.MACLimit)
	say("acl_default", was.ACLDefault, want.ACLDefault)
	say("port_security", !was.NoPortSecurity, !want.NoPortSecurity)
	say("storm_limit", was.StormLimit, want.StormLimit)
	say("conn_rate", was.ConnRate, want.ConnRate)
	return lines, nil
}

// changedKeys lists the JSON keys whose values differ between two entries
// of the same type.
func changedKeys(a, b any) []string {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	var keys []string
	for i := range va.NumField() {
		f := va.Type().Field(i)
		if !f.IsExported() {
			continue
		}
		if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			keys = append(keys, jsonName(f))
		}
	}
	return keys
}

// setNetworkOptions gives a running network new live options and hands
// each changed table to the dataplane; nothing else is touched.
func (d *Daemon) setNetworkOptions(name string, o netOptions) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	rt, ok := d.nets[name]
	if !ok {
		return notFound("no network %s: 'vswitchctl network ls' lists them", name)
	}
	n := rt.cfg
	was := optionsOf(n)
	n.ICC, n.Masquerade, n.FDBAging, n.MACLimit = o.ICC, o.Masquerade, o.FDBAging, o.MACLimit
	n.ACLDefault, n.NoPortSecurity, n.StormLimit, n.ConnRate = o.ACLDefault, o.NoPortSecurity, o.StormLimit, o.ConnRate
	if was.ICC != o.ICC || was.Masquerade != o.Masquerade {
		if err := d.syncL3Locked(); err != nil {
			n.ICC, n.Masquerade = was.ICC, was.Masquerade
			d.syncL3Locked()
			return err
		}
	}
	if t := d.dp.FDB(rt.id); t != nil && (was.FDBAging != o.FDBAging || was.MACLimit != o.MACLimit) {
		fc := fdbConfig(n)
		t.SetAging(fc.Aging)
		t.SetMACLimit(fc.MACLimit)
	}
	if was.ACLDefault != o.ACLDefault {
		d.syncACLLocked(rt)
	}
	if was.NoPortSecurity != o.NoPortSecurity || was.StormLimit != o.StormLimit || was.ConnRate != o.ConnRate {
		for _, p := range d.ports {
			if p.cfg.Network == name && p.io != nil {
				if err := d.dp.SetGuard(p.idx, guardConfig(p.cfg, n)); err != nil {
					return &Error{Status: 500, Msg: err.Error()}
				}
			}
		}
	}
	return d.st.save(d.opts.StateDir)
}

// portOfLocked is the port an entry of the file names, if it exists: the
// one of that name, else the one on that namespace and interface (any of
// the namespace's when the interface is left out).
func (d *Daemon) portOfLocked(name, ns, ifname string) string {
	for _, p := range d.st.Ports {
		if (name != "" && p.Name == name) || (name == "" && p.Netns == ns && (ifname == "" || p.Ifname == ifname)) {
			return p.Name
		}
	}
	return ""
}

// publishIDLocked is the rule the same as req in every field, or 0.
func (d *Daemon) publishIDLocked(req api.PublishAdd) int {
	p, err := d.parsePublishLocked(req)
	if err != nil {
		return 0
	}
	for _, o := range d.st.Publish {
		id := o.ID
		if o.ID = 0; o == p {
			return id
		}
	}
	return 0
}

// aclIDLocked is the rule the same as req in every field, or 0.
func (d *Daemon) aclIDLocked(req api.ACLAdd) int {
	r, err := d.parseACLLocked(req)
	if err != nil {
		return 0
	}
	for _, o := range d.st.ACLs {
		if sameMatch(o, r) && o.Action == r.Action {
			return o.ID
		}
	}
	return 0
}

// takePublish removes a published port and returns it, for putPublish to
// put back with its ID when the apply is undone.
func (d *Daemon) takePublish(id int) (PublishState, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	i := slices.IndexFunc(d.st.Publish, func(p PublishState) bool { return p.ID == id })
	if i < 0 {
		return PublishState{}, notFound("no publish rule %d", id)
	}
	p := d.st.Publish[i]
	d.st.Publish = slices.Delete(d.st.Publish, i, i+1)
	d.syncPublishLocked()
	return p, d.st.save(d.opts.StateDir)
}

func (d *Daemon) putPublish(p PublishState) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.st.Publish = append(d.st.Publish, p)
	d.syncPublishLocked()
	d.undo(fmt.Sprintf("put back publish rule %d", p.ID), d.st.save(d.opts.StateDir))
}

// takeACL removes an ACL rule and returns it, for putACL.
func (d *Daemon) takeACL(id int) (ACLState, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	i := slices.IndexFunc(d.st.ACLs, func(r ACLState) bool { return r.ID == id })
	if i < 0 {
		return ACLState{}, notFound("no ACL rule %d", id)
	}
	r := d.st.ACLs[i]
	d.st.ACLs = slices.Delete(d.st.ACLs, i, i+1)
	if n, ok := d.nets[r.Network]; ok {
		d.syncACLLocked(n)
	}
	return r, d.st.save(d.opts.StateDir)
}

func (d *Daemon) putACL(r ACLState) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.st.ACLs = append(d.st.ACLs, r)
	if d.aclHits[r.ID] == nil {
		d.aclHits[r.ID] = policy.NewHits()
	}
	if n, ok := d.nets[r.Network]; ok {
		d.syncACLLocked(n)
	}
	d.undo(fmt.Sprintf("put back ACL rule %d", r.ID), d.st.save(d.opts.StateDir))
}
