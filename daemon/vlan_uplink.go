package daemon

import (
	"fmt"
	"slices"

	"vswitch/dataplane"
	"vswitch/header"
)

// VLAN uplinks (uplink add --vlan N). An uplink is a network of its own
// (l3.go); with a VLAN its frames are tagged N on the device, and only
// frames tagged N are its. Several uplinks on one device, each with its
// own VLAN, are an uplink trunk: one AF_PACKET socket that is a dataplane
// trunk (dataplane/vlan.go) whose members are the uplinks' networks, one
// per VLAN, so the router sees each uplink as the one port of its network
// and the tags are pushed and popped where a trunk port's are. Untagged
// frames are no uplink's there (the trunk has no native VLAN).
//
// The socket belongs to no uplink alone: the first VLAN uplink of a device
// opens it, later ones find it on an uplink of the same device, and the
// last one removed closes it. The members share the trunk's counters and
// capture tap, as a trunk port's do: stats and capture of one VLAN uplink
// show the whole device.

// uplinkTrunk is the socket the VLAN uplinks of one device share.
type uplinkTrunk struct {
	nsPath, dev string
	io          afPort
	idx         uint16 // the trunk's own dataplane entry
}

// uplinkVLANOptionLocked checks --vlan of an uplink about to be added on
// (nsPath, dev): a VLAN id, and not one the device carries already, by a
// trunk port or another uplink. An untagged uplink and VLAN uplinks do not
// share a device.
func (d *Daemon) uplinkVLANOptionLocked(nsPath, dev string, vlan int) error {
	if vlan < 0 || vlan > header.VLANMax {
		return badRequest("bad --vlan %d: a VLAN id is 1 to %d", vlan, header.VLANMax)
	}
	for _, u := range d.st.Uplinks {
		if u.NetnsPath != nsPath || u.Dev != dev {
			continue
		}
		switch {
		case vlan == 0 && u.VLAN == 0:
			return conflict("interface %s is uplink %s already: give each uplink of one interface its own --vlan", dev, u.Name)
		case vlan == 0:
			return conflict("interface %s carries VLAN uplink %s (VLAN %d): an untagged uplink cannot share it, give --vlan", dev, u.Name, u.VLAN)
		case u.VLAN == 0:
			return conflict("interface %s is untagged uplink %s: a VLAN uplink cannot share it, 'uplink rm %s' first", dev, u.Name, u.Name)
		case u.VLAN == vlan:
			return conflict("VLAN %d on %s is uplink %s's already: pick another --vlan", vlan, dev, u.Name)
		}
	}
	for _, p := range d.st.Ports {
		if !p.Trunk || p.NetnsPath != nsPath || p.Ifname != dev || vlan == 0 {
			continue
		}
		if slices.ContainsFunc(d.trunkNetsLocked(&p, ""), func(n *netRT) bool { return n.cfg.VLAN == vlan }) {
			return conflict("VLAN %d on %s is carried by trunk port %s already: pick another --vlan", vlan, dev, p.Name)
		}
		return conflict("interface %s is trunk port %s: a VLAN uplink cannot share a trunk port's interface yet, use another interface", dev, p.Name)
	}
	return nil
}

// uplinkOnDevLocked is an uplink on (nsPath, dev), for a trunk port
// about to be attached there ("" when none).
func (d *Daemon) uplinkOnDevLocked(nsPath, dev string) string {
	for _, u := range d.st.Uplinks {
		if u.NetnsPath == nsPath && u.Dev == dev {
			return u.Name
		}
	}
	return ""
}

// openVLANUplinkLocked joins rt to its device's uplink trunk, opening the
// socket when rt is the device's first VLAN uplink that is up.
func (d *Daemon) openVLANUplinkLocked(rt *uplinkRT) error {
	c := rt.cfg
	var t *uplinkTrunk
	for _, u := range d.uplinks {
		if u != rt && u.trunk != nil && u.trunk.nsPath == c.NetnsPath && u.trunk.dev == c.Dev {
			t = u.trunk
			break
		}
	}
	if t == nil {
		af, err := d.openAFPacketLocked(c.NetnsPath, c.Dev)
		if err != nil {
			return err
		}
		idx, err := d.dp.AddTrunk("uplinks:"+c.Dev, af)
		if err != nil {
			af.Close()
			return err
		}
		t = &uplinkTrunk{nsPath: c.NetnsPath, dev: c.Dev, io: af, idx: idx}
	}
	rt.trunk = t
	if err := d.syncUplinkTrunkLocked(t); err != nil {
		rt.trunk = nil
		d.syncUplinkTrunkLocked(t) // back to the others' VLANs; closes a socket no one else uses
		return err
	}
	rt.io, rt.err = t.io, ""
	d.dp.SendGratuitous(rt.netID)
	return nil
}

// closeVLANUplinkLocked takes rt out of its uplink trunk (uplink rm).
func (d *Daemon) closeVLANUplinkLocked(rt *uplinkRT) {
	t := rt.trunk
	rt.trunk, rt.io, rt.idx = nil, nil, 0
	if err := d.syncUplinkTrunkLocked(t); err != nil {
		d.log.Error("cannot set the uplink trunk's VLANs", "dev", t.dev, "err", err)
	}
}

// syncUplinkTrunkLocked gives trunk t a member per VLAN uplink on it and
// each uplink its member's index; with no uplink left it closes the
// socket. A member that stays keeps its index (SetTrunk).
func (d *Daemon) syncUplinkTrunkLocked(t *uplinkTrunk) error {
	var on []*uplinkRT
	var vlans []dataplane.TrunkVLAN
	for _, u := range d.uplinks {
		if u.trunk == t {
			on = append(on, u)
			vlans = append(vlans, dataplane.TrunkVLAN{VID: uint16(u.cfg.VLAN), Net: u.netID})
		}
	}
	if len(on) == 0 {
		d.dp.RemovePort(t.idx)
		t.io.Close()
		return nil
	}
	slices.SortFunc(vlans, func(a, b dataplane.TrunkVLAN) int { return int(a.VID) - int(b.VID) })
	if err := d.dp.SetTrunk(t.idx, vlans, 0); err != nil {
		return fmt.Errorf("cannot give %s's uplink trunk its VLANs: %v", t.dev, err)
	}
	members, _, err := d.dp.Trunk(t.idx)
	if err != nil {
		return err
	}
	for _, u := range on {
		u.idx = members[uint16(u.cfg.VLAN)]
	}
	return nil
}
