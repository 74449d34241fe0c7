package dataplane

import (
	"errors"
	"fmt"
	"slices"
	"sync/atomic"

	"vswitch/dataplane/port"
	"vswitch/header"
)

// 802.1Q VLANs. A network may carry a VLAN id (Network.VLAN); its ports
// are access ports: their frames are untagged, and a tagged one is dropped
// (DropVLAN). A trunk is one device that carries several VLAN networks at
// once, tagged on the wire.
//
// How a trunk fits the model, where a port belongs to one network: the
// trunk is one dataplane port per VLAN it carries (a member), each an
// ordinary port of its VLAN's network, plus the trunk's own entry, which
// only reads. The members share the device: the trunk's entry is the one
// epoll watches and reads, and each frame read is handed to the pipeline as
// if it had arrived on the member of its VLAN (trunkMap, one array load),
// tag popped; a member's IO is a port.Tagged that pushes its VLAN's tag on
// the way out (the native VLAN's member writes untagged). So the FDB, the
// flood sets, the router's ports, `out.Net != in.Net` and every other stage
// see nothing but ports of one network, and nothing downstream of ingress
// knows trunks exist. Members share the trunk's counters and capture tap,
// so the trunk counts as one port. The alternative, a VLAN->network map on
// one port, would need the VLAN in every verdict and egress queue.

// trunkMap is a trunk's VLAN table: never changed once published.
type trunkMap struct {
	byVID  [header.VLANMax + 1]uint16 // member port index by VLAN id; 0: not carried
	native uint16                     // the member untagged frames go to; 0: dropped
}

// TrunkVLAN is one VLAN a trunk carries: its id and its network.
type TrunkVLAN struct {
	VID uint16
	Net uint16
}

// SetNetworkVLAN sets the VLAN id of network id (0: none). A network's
// VLAN makes its ports access ports: a tagged frame on one is dropped.
func (dp *Dataplane) SetNetworkVLAN(id, vid uint16) error {
	if vid > header.VLANMax {
		return fmt.Errorf("VLAN id %d: want 1 to %d", vid, header.VLANMax)
	}
	dp.mu.Lock()
	defer dp.mu.Unlock()
	s := dp.cfg.Load().clone()
	n := s.network(id)
	if n == nil {
		return fmt.Errorf("no network %d", id)
	}
	nn := *n
	nn.VLAN = vid
	s.nets[id] = &nn
	dp.cfg.Store(s)
	return nil
}

// AddTrunk starts serving io as a trunk that carries no VLAN yet (SetTrunk
// gives it its VLANs) and returns its index.
func (dp *Dataplane) AddTrunk(name string, io port.Port) (uint16, error) {
	tagger, ok := io.(port.VLANPort)
	if !ok {
		return 0, fmt.Errorf("port %s cannot be a trunk: its device does not tell or push 802.1Q tags", name)
	}
	dp.mu.Lock()
	defer dp.mu.Unlock()
	s := dp.cfg.Load().clone()
	idx, err := freePortLocked(s)
	if err != nil {
		return 0, err
	}
	w := dp.leastLoadedLocked(s)
	p := &Port{Index: idx, Name: name, IO: io, Queues: []port.Port{io}, Stats: new(PortStats), worker: w,
		tap: new(atomic.Pointer[Tap]), trunk: &trunkMap{}, tagger: tagger}
	s.ports[idx] = p
	dp.cfg.Store(s)
	if len(dp.workers) > 0 {
		if err := dp.workers[w].watch(io.Fd(), idx); err != nil {
			s2 := dp.cfg.Load().clone()
			s2.ports[idx] = nil
			dp.cfg.Store(s2)
			return 0, fmt.Errorf("cannot poll port %s: %v", name, err)
		}
	}
	return idx, nil
}

// freePortLocked takes the lowest free port index of s, growing it.
func freePortLocked(s *snapshot) (uint16, error) {
	for i := 1; i < len(s.ports); i++ {
		if s.ports[i] == nil {
			return uint16(i), nil
		}
	}
	if len(s.ports) > MaxPorts {
		return 0, fmt.Errorf("too many ports (at most %d)", MaxPorts)
	}
	s.ports = append(s.ports, nil)
	return uint16(len(s.ports) - 1), nil
}

// SetTrunk makes trunk idx carry vlans, untagged frames going to VLAN
// native (0: dropped; else one of vlans). A VLAN it carried before on the
// same network keeps its member port (and its FDB entries); a member no
// longer wanted is removed as RemovePort removes a port.
func (dp *Dataplane) SetTrunk(idx uint16, vlans []TrunkVLAN, native uint16) error {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	s := dp.cfg.Load().clone()
	p := s.port(idx)
	if p == nil || p.trunk == nil {
		return fmt.Errorf("port %d is not a trunk", idx)
	}
	nt := &trunkMap{}
	for _, v := range vlans {
		if v.VID == 0 || v.VID > header.VLANMax {
			return fmt.Errorf("VLAN id %d: want 1 to %d", v.VID, header.VLANMax)
		}
		if s.network(v.Net) == nil {
			return fmt.Errorf("no network %d", v.Net)
		}
		if nt.byVID[v.VID] != 0 {
			return fmt.Errorf("VLAN %d given twice", v.VID)
		}
		nt.byVID[v.VID] = 1 // marked; the member comes below
	}
	if native != 0 && (native > header.VLANMax || nt.byVID[native] == 0) {
		return fmt.Errorf("native VLAN %d is not one the trunk carries", native)
	}
	clear(nt.byVID[:])
	var gone []*Port
	keep := map[uint16]bool{}
	for _, v := range vlans {
		// A member stays when nothing about it changes: same network,
		// and tagged or not as before.
		if m := s.port(p.trunk.byVID[v.VID]); m != nil && m.Net == v.Net && (m.vid == 0) == (v.VID == native) {
			nt.byVID[v.VID] = m.Index
			keep[m.Index] = true
			continue
		}
		mi, err := freePortLocked(s)
		if err != nil {
			return err
		}
		io := port.Port(port.Tagged{Dev: p.tagger, VID: v.VID})
		vid := v.VID
		if v.VID == native {
			io, vid = p.IO, 0 // the native VLAN leaves untagged
		}
		m := &Port{Index: mi, Name: fmt.Sprintf("%s.%d", p.Name, v.VID), Net: v.Net, IO: io, Queues: []port.Port{io},
			Stats: p.Stats, worker: p.worker, tap: p.tap, parent: idx, vid: vid}
		s.ports[mi] = m
		joinNetLocked(s, v.Net, mi)
		nt.byVID[v.VID] = mi
		keep[mi] = true
	}
	if native != 0 {
		nt.native = nt.byVID[native]
	}
	for _, mi := range p.trunk.byVID {
		if m := s.port(mi); mi != 0 && !keep[mi] && m != nil {
			gone = append(gone, m)
			s.ports[mi] = nil
			leaveNetLocked(s, m.Net, mi)
		}
	}
	pp := *p
	pp.trunk = nt
	s.ports[idx] = &pp
	dp.cfg.Store(s)
	if len(gone) > 0 {
		dp.quiesceLocked()
		flushMembers(s, gone)
	}
	return nil
}

// Trunk returns the VLANs trunk idx carries, by id, with their member
// port index, and its native VLAN.
func (dp *Dataplane) Trunk(idx uint16) (members map[uint16]uint16, native uint16, err error) {
	p := dp.cfg.Load().port(idx)
	if p == nil || p.trunk == nil {
		return nil, 0, errors.New("not a trunk")
	}
	members = map[uint16]uint16{}
	for vid, mi := range p.trunk.byVID {
		if mi != 0 {
			members[uint16(vid)] = mi
			if mi == p.trunk.native {
				native = uint16(vid)
			}
		}
	}
	return members, native, nil
}

func joinNetLocked(s *snapshot, id, idx uint16) {
	n := s.network(id)
	nn := *n
	nn.Ports = append(slices.Clone(n.Ports), idx)
	slices.Sort(nn.Ports)
	s.nets[id] = &nn
}

func leaveNetLocked(s *snapshot, id, idx uint16) {
	if n := s.network(id); n != nil {
		nn := *n
		nn.Ports = slices.DeleteFunc(slices.Clone(n.Ports), func(i uint16) bool { return i == idx })
		s.nets[id] = &nn
	}
}

// removeMembersLocked takes a trunk's members out of s (RemovePort of
// the trunk); flushMembers forgets their FDB entries once no worker holds
// the old snapshot.
func removeMembersLocked(s *snapshot, p *Port) (gone []*Port) {
	for _, mi := range p.trunk.byVID {
		if m := s.port(mi); mi != 0 && m != nil {
			gone = append(gone, m)
			s.ports[mi] = nil
			leaveNetLocked(s, m.Net, mi)
		}
	}
	return gone
}

func flushMembers(s *snapshot, gone []*Port) {
	for _, m := range gone {
		if n := s.network(m.Net); n != nil {
			n.FDB.FlushPort(m.Index)
		}
	}
}

// vlanIn is one batch's 802.1Q state at ingress: the port's trunk map (nil
// on an access port) and the tags its device reported for the batch.
type vlanIn struct {
	on    bool
	trunk *trunkMap
	tags  []uint16
}

func vlanBegin(in *Port) vlanIn {
	v := vlanIn{trunk: in.trunk}
	if in.tagger != nil {
		v.tags = in.tagger.Tags()
	}
	v.on = v.trunk != nil || v.tags != nil
	return v
}

// classify gives frame i of the batch (buf) the port it enters on: on a
// trunk the member of its VLAN, with the tag popped when it was in line
// (the device reports it out of line, already popped); on an access port
// the port itself, if the frame had no tag.
func (v *vlanIn) classify(s *snapshot, in *Port, i int, buf []byte) (*Port, []byte, DropReason) {
	var tag uint16
	if i < len(v.tags) {
		tag = v.tags[i]
	}
	if v.trunk == nil {
		if tag != 0 {
			return nil, buf, DropVLAN // a tagged frame on a port that carries none
		}
		return in, buf, DropNone
	}
	if tag == 0 {
		if f := header.Ethernet(buf[header.VirtioNetHdrLen:]); f.Valid() && header.IsVLANType(f.Type()) {
			out, tpid, vid, ok := header.PopVLAN(buf)
			if !ok {
				return nil, buf, DropMalformed
			}
			if tpid != header.EtherTypeVLAN || vid > header.VLANMax {
				return nil, buf, DropVLAN
			}
			buf, tag = out, vid
		}
	}
	var m uint16
	switch {
	case tag == 0:
		if m = v.trunk.native; m == 0 {
			return nil, buf, DropUntagged
		}
	case tag <= header.VLANMax:
		m = v.trunk.byVID[tag]
	}
	if m == 0 {
		return nil, buf, DropVLAN
	}
	p := s.port(m)
	if p == nil {
		return nil, buf, DropVLAN
	}
	return p, buf, DropNone
}
