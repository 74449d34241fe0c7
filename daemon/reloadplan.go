package daemon

// Reload planning: planConfig compares the file with the record of the
// last apply and with the state and builds the plan that reload.go runs;
// the port and rule sections are planned by planPorts and planRules, and
// the lookups they use to find what an entry made are here too.

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"

	"vswitch/api"
	"vswitch/policy"
)

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
		if network == "" {
			return nil // a trunk (attach.trunk): AttachPort says what is wrong
		}
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
				if v.Trunk != nil {
					return fmt.Sprintf("port %s: added as a trunk of VLANs %v (%s)", v.Name, v.Trunk.Carried, where), nil
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
