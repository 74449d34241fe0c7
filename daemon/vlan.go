package daemon

import (
	"vswitch/api"
	"vswitch/header"
)

// 802.1Q: a network may carry a VLAN id (network create --vlan). Its ports
// are then access ports, whose frames are untagged: the dataplane drops a
// tagged one (drop reason vlan, dataplane/vlan.go).

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
