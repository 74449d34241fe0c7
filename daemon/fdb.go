package daemon

import (
	"slices"
	"time"

	"vswitch/api"
	"vswitch/header"
)

// The MAC tables as `fdb show` lists them, and static entries.

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
	if err := notOnTrunk(rt, "a static entry needs a port of one network"); err != nil {
		return err
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
