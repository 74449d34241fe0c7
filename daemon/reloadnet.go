package daemon

// Reload of network options: which options of a running network may
// change (netOptions), what changed between two entries of a network, and
// how a running network gets new options.

import (
	"fmt"
	"net/netip"
	"reflect"
	"slices"

	"vswitch/api"
)

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
		d.syncTrunksLocked("") // and the VLAN members of trunks (vlan.go)
	}
	return d.st.save(d.opts.StateDir)
}
