package daemon

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"vswitch/api"
	"vswitch/dataplane"
	"vswitch/header"
	"vswitch/internal/netns"
)

// 802.1Q: a network may carry a VLAN id (network create --vlan). Its ports
// are then access ports, whose frames are untagged: the dataplane drops a
// tagged one (drop reason vlan, dataplane/vlan.go).
//
// A trunk (port attach --trunk) is an AF_PACKET port of no one network: it
// carries every network that has a VLAN id (or those of its --vlans list),
// tagged on the wire, and untagged frames belong to its --native VLAN. The
// state keeps the list as given, not the networks: a network created (or
// removed) later with a VLAN of the list is carried (or dropped) at once
// (syncTrunksLocked), and a restart finds the same VLANs by id.

// vlanOptionLocked checks --vlan: 1 to 4094, and not another network's
// already (a trunk must know which network a tag means).
func (d *Daemon) vlanOptionLocked(ns *NetworkState, req api.NetworkCreate) error {
	if req.VLAN == 0 {
		return nil
	}
	if req.VLAN < 1 || req.VLAN > header.VLANMax {
		return badRequest("bad --vlan %d: a VLAN id is 1 to %d", req.VLAN, header.VLANMax)
	}
	for _, n := range d.st.Networks {
		if n.VLAN == req.VLAN {
			return conflict("VLAN %d is network %s's already: pick another --vlan", req.VLAN, n.Name)
		}
	}
	ns.VLAN = req.VLAN
	return nil
}

// attachTrunkLocked is port attach --trunk: an AF_PACKET port on dev that
// carries every VLAN network (or those of --vlans), tagged, and untagged
// frames to --native's network.
func (d *Daemon) attachTrunkLocked(req api.PortAttach) (api.Port, error) {
	if !req.Trunk {
		return api.Port{}, badRequest("--vlans and --native are for a trunk: add --trunk")
	}
	if req.Network != "" {
		return api.Port{}, badRequest("a trunk carries the networks of its VLANs, not network %s alone: drop NETWORK (--vlans chooses the VLANs, --native the untagged one)", req.Network)
	}
	if req.Dev == "" {
		return api.Port{}, badRequest("no interface given: pass --dev IF")
	}
	if req.Kind != "" && req.Kind != "afpacket" {
		return api.Port{}, badRequest("a trunk is an AF_PACKET port (its tags come from the packet socket): drop --kind %s", req.Kind)
	}
	var list []uint16
	if req.VLANs != "" {
		var err error
		if list, err = ParseVLANList(req.VLANs); err != nil {
			return api.Port{}, badRequest("bad --vlans %q: %v", req.VLANs, err)
		}
	}
	if req.Native != 0 {
		if req.Native < 1 || req.Native > header.VLANMax {
			return api.Port{}, badRequest("bad --native %d: a VLAN id is 1 to %d", req.Native, header.VLANMax)
		}
		if list != nil && !slices.Contains(list, uint16(req.Native)) {
			return api.Port{}, badRequest("native VLAN %d is not in --vlans %s: add it to the list", req.Native, req.VLANs)
		}
	}
	nsPath, err := nsPathOf(req.Netns)
	if err != nil {
		return api.Port{}, err
	}
	if err := d.devInUseLocked(nsPath, req.Dev); err != nil {
		return api.Port{}, err
	}
	if u := d.uplinkOnDevLocked(nsPath, req.Dev); u != "" {
		return api.Port{}, conflict("interface %s is uplink %s's: a trunk port cannot share an uplink's interface, use another interface", req.Dev, u)
	}
	name, err := d.attachNameLocked(req.Name, req.Netns, req.Dev)
	if err != nil {
		return api.Port{}, err
	}
	return d.plugPortLocked(PortState{Name: name, Kind: "afpacket", Netns: req.Netns, NetnsPath: nsPath,
		Ifname: req.Dev, Trunk: true, VLANs: req.VLANs, Native: req.Native})
}

// checkTrunkEntry checks a config file's attach entry for what the trunk
// keys allow alone (LoadConfig, so the error has its line): the key at
// fault and why.
func checkTrunkEntry(a api.PortAttach) (key string, err error) {
	if !a.Trunk {
		if a.VLANs != "" {
			return "vlans", errors.New("vlans is for a trunk: add trunk: true")
		}
		if a.Native != 0 {
			return "native", errors.New("native is for a trunk: add trunk: true")
		}
		return "", nil
	}
	if a.Network != "" {
		return "network", fmt.Errorf("a trunk carries the networks of its VLANs, not network %s alone: drop network (vlans chooses the VLANs)", a.Network)
	}
	var list []uint16
	if a.VLANs != "" {
		if list, err = ParseVLANList(a.VLANs); err != nil {
			return "vlans", fmt.Errorf("bad vlans %q: %v", a.VLANs, err)
		}
	}
	if a.Native < 0 || a.Native > header.VLANMax {
		return "native", fmt.Errorf("bad native %d: a VLAN id is 1 to %d", a.Native, header.VLANMax)
	}
	if a.Native != 0 && list != nil && !slices.Contains(list, uint16(a.Native)) {
		return "native", fmt.Errorf("native VLAN %d is not in vlans %s: add it to the list", a.Native, a.VLANs)
	}
	return "", nil
}

// openTrunkLocked opens a trunk's socket (a receive ring too with
// --afpacket-ring: it reports tags as the plain socket does) and gives it
// its VLANs.
func (d *Daemon) openTrunkLocked(rt *portRT) error {
	c := rt.cfg
	if c.NetnsPath != "" && !netns.Exists(c.NetnsPath) {
		return fmt.Errorf("namespace %s does not exist: create it with 'ip netns add' or give a path like /proc/PID/ns/net", c.Netns)
	}
	if err := linkUp(c.NetnsPath, c.Ifname); err != nil {
		return err
	}
	af, err := d.openAFPacketLocked(c.NetnsPath, c.Ifname)
	if err != nil {
		return err
	}
	idx, err := d.dp.AddTrunk(c.Name, af)
	if err != nil {
		af.Close()
		return err
	}
	c.MAC = af.MAC().String()
	if err := d.dp.SetPolice(idx, policeConfig(c)); err != nil {
		d.dp.RemovePort(idx)
		af.Close()
		return err
	}
	rt.io, rt.idx, rt.err = af, idx, ""
	d.syncTrunkLocked(rt, "")
	return nil
}

// syncTrunksLocked gives every trunk the VLAN networks it carries now,
// leaving out network skip (one being removed).
func (d *Daemon) syncTrunksLocked(skip string) {
	for _, rt := range d.ports {
		if rt.cfg.Trunk && rt.io != nil {
			d.syncTrunkLocked(rt, skip)
		}
	}
}

func (d *Daemon) syncTrunkLocked(rt *portRT, skip string) {
	var vlans []dataplane.TrunkVLAN
	native := uint16(0)
	for _, n := range d.trunkNetsLocked(rt.cfg, skip) {
		v := uint16(n.cfg.VLAN)
		vlans = append(vlans, dataplane.TrunkVLAN{VID: v, Net: n.id})
		if int(v) == rt.cfg.Native {
			native = v
		}
	}
	if err := d.dp.SetTrunk(rt.idx, vlans, native); err != nil {
		d.log.Error("cannot set the trunk's VLANs", "port", rt.cfg.Name, "err", err)
		return
	}
	// Each VLAN's member gets its network's per-port limits, as an attached
	// port of that network would (no port security: a trunk carries
	// foreign MACs).
	members, _, err := d.dp.Trunk(rt.idx)
	if err != nil {
		return
	}
	for _, n := range d.trunkNetsLocked(rt.cfg, skip) {
		g := dataplane.GuardConfig{StormPPS: n.cfg.StormLimit, ConnRate: n.cfg.ConnRate}
		if err := d.dp.SetGuard(members[uint16(n.cfg.VLAN)], g); err != nil {
			d.log.Error("cannot set the limits of a trunk's VLAN", "port", rt.cfg.Name, "vlan", n.cfg.VLAN, "err", err)
		}
	}
}

// trunkNetsLocked is the networks trunk c carries, by VLAN id: those with
// a VLAN id, of its list if it has one, but skip.
func (d *Daemon) trunkNetsLocked(c *PortState, skip string) []*netRT {
	var list []uint16
	if c.VLANs != "" {
		list, _ = ParseVLANList(c.VLANs) // checked at attach; a broken one carries nothing
		if list == nil {
			list = []uint16{}
		}
	}
	var out []*netRT
	for _, n := range d.nets {
		v := uint16(n.cfg.VLAN)
		if v == 0 || n.cfg.Name == skip || (list != nil && !slices.Contains(list, v)) {
			continue
		}
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b *netRT) int { return a.cfg.VLAN - b.cfg.VLAN })
	return out
}

// onNetworkLocked says whether port p is one of network's: its own, or
// a trunk that carries it (port ls --network, network inspect).
func (d *Daemon) onNetworkLocked(p *PortState, network string) bool {
	if !p.Trunk {
		return p.Network == network
	}
	return slices.ContainsFunc(d.trunkNetsLocked(p, ""), func(n *netRT) bool { return n.cfg.Name == network })
}

// trunkViewLocked fills in what port ls and inspect show of a trunk.
func (d *Daemon) trunkViewLocked(rt *portRT, v *api.Port) {
	if !rt.cfg.Trunk {
		return
	}
	ti := &api.TrunkInfo{VLANs: rt.cfg.VLANs, Native: rt.cfg.Native, Carried: []int{}, Networks: []string{}}
	for _, n := range d.trunkNetsLocked(rt.cfg, "") {
		ti.Carried = append(ti.Carried, n.cfg.VLAN)
		ti.Networks = append(ti.Networks, n.cfg.Name)
	}
	v.Trunk = ti
}

// trunkNamesLocked names a trunk's members (one dataplane port per VLAN,
// dataplane/vlan.go) by the trunk's name, for fdb show and neighbours.
func (d *Daemon) trunkNamesLocked(m map[uint16]string) {
	for _, rt := range d.ports {
		if !rt.cfg.Trunk || rt.io == nil {
			continue
		}
		if members, _, err := d.dp.Trunk(rt.idx); err == nil {
			for _, mi := range members {
				m[mi] = rt.cfg.Name
			}
		}
	}
}

// notOnTrunk refuses what needs the port's one network (a static FDB
// entry, a route via the port) on a trunk.
func notOnTrunk(rt *portRT, what string) error {
	if rt.cfg.Trunk {
		return badRequest("port %s is a trunk of several networks: %s", rt.cfg.Name, what)
	}
	return nil
}

// ParseVLANList reads a VLAN list as --vlans takes it: ids and ranges
// separated by commas, "10,20-30" (spaces around items allowed). It
// returns the ids in order, each once. Errors are one line, without the
// list (the caller says where it came from).
func ParseVLANList(s string) ([]uint16, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("empty: give VLAN ids and ranges like 10,20-30")
	}
	var seen [header.VLANMax + 1]bool
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			return nil, errors.New("an empty item (two commas, or one at an end): give VLAN ids and ranges like 10,20-30")
		}
		lo, hi, err := parseVLANRange(item)
		if err != nil {
			return nil, err
		}
		for v := lo; v <= hi; v++ {
			seen[v] = true
		}
	}
	var out []uint16
	for v := 1; v <= header.VLANMax; v++ {
		if seen[v] {
			out = append(out, uint16(v))
		}
	}
	return out, nil
}

func parseVLANRange(item string) (lo, hi uint16, err error) {
	a, b, isRange := strings.Cut(item, "-")
	if lo, err = parseVID(strings.TrimSpace(a)); err != nil {
		return 0, 0, err
	}
	if !isRange {
		return lo, lo, nil
	}
	if hi, err = parseVID(strings.TrimSpace(b)); err != nil {
		return 0, 0, err
	}
	if hi < lo {
		return 0, 0, fmt.Errorf("range %s runs backwards: write it low-high", item)
	}
	return lo, hi, nil
}

// parseVID reads one VLAN id, 1 to 4094, in decimal.
func parseVID(s string) (uint16, error) {
	if s == "" || len(s) > 4 {
		return 0, fmt.Errorf("%q is not a VLAN id (1 to %d)", s, header.VLANMax)
	}
	v := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("%q is not a VLAN id (1 to %d)", s, header.VLANMax)
		}
		v = v*10 + int(s[i]-'0')
	}
	if v < 1 || v > header.VLANMax {
		return 0, fmt.Errorf("VLAN id %d is out of range: 1 to %d", v, header.VLANMax)
	}
	return uint16(v), nil
}
