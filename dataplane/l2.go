package dataplane

import (
	"vswitch/fdb"
	"vswitch/header"
)

// decide is the pipeline for one buffer (virtio_net_hdr + frame) arriving
// on port in. It learns the source, then decides by destination MAC: a
// gateway's MAC (or ARP for a gateway) goes to the router (l3.go); anything
// else is switched within the ingress network only, so frames never cross
// networks at L2. Docker's bridge decides the same way, which is why a
// "router container" on two networks bypasses isolation while routing
// through the gateway meets it.
func (w *worker) decide(s *snapshot, in *Port, buf []byte, now int64) Verdict {
	frame := buf[header.VirtioNetHdrLen:]
	if len(frame) < header.EthernetLen {
		return drop(DropMalformed)
	}
	eth := header.Ethernet(frame)
	src := eth.Src()
	if src.IsMulticast() || src.IsZero() {
		return drop(DropBadSrcMAC)
	}
	if in.guard != nil {
		why := in.guard.ingress(frame, now, w.tr.dry())
		if w.tr != nil {
			w.traceGuard(why, in.guard.note(frame, why))
		}
		if why != DropNone {
			return drop(why) // before learning: a spoofed MAC must not enter the FDB
		}
	}
	net := s.nets[in.Net]
	if net.VLAN != 0 && header.IsVLANType(eth.Type()) {
		return drop(DropVLAN) // an access port's frames are untagged (vlan.go)
	}
	dst := eth.Dst()
	if net.L3.Uplink {
		// An uplink shares its link with other stations: take only what is
		// addressed to vswitchd, learn nothing, flood nothing.
		if dst != net.L3.GatewayMAC && !(dst.IsBroadcast() && eth.Type() == header.EtherTypeARP) &&
			!(net.L3.Gateway6.IsValid() && eth.Type() == header.EtherTypeIPv6 && solicitedNodeMAC(dst)) {
			return drop(DropNotOurs)
		}
	} else if w.tr == nil {
		if net.FDB.Learn(src.Uint64(), in.Index, now) == fdb.LimitExceeded {
			return drop(DropMACLimit)
		}
	} else if w.traceLearn(net, in, src, now) == fdb.LimitExceeded {
		return drop(DropMACLimit)
	}
	if net.L3.GatewayIP.IsValid() {
		switch {
		case eth.Type() == header.EtherTypeARP:
			if v, done := w.arpInput(s, in, net, buf, now); done {
				return v
			}
		case eth.Type() == header.EtherTypeIPv6 && net.L3.Gateway6.IsValid():
			if v, done := w.ipv6Input(s, in, net, buf, now); done {
				return v // ND and echo for the gateway (nd.go), routed (route6.go)
			}
		case dst == net.L3.GatewayMAC && eth.Type() == header.EtherTypeIPv4:
			if w.tr != nil {
				w.traceToRouter(net)
			}
			return w.routeIPv4(s, in, net, buf, now)
		case dst == net.L3.GatewayMAC:
			return drop(DropNotRoutable) // not IPv4, nor IPv6 on a network with --ipv6
		}
	}
	if net.L3.NoICC && eth.Type() != header.EtherTypeARP {
		return drop(DropICC)
	}
	if net.ACL != nil && eth.Type() == header.EtherTypeIPv4 {
		if why := w.aclSwitched(in, net, buf, now); why != DropNone {
			return drop(why)
		}
	} else if net.ACL != nil && eth.Type() == header.EtherTypeIPv6 {
		if why := w.aclSwitched6(in, net, buf, now); why != DropNone {
			return drop(why) // acl6.go
		}
	}
	if mtu := net.L3.MTU; mtu > 0 && len(frame) > mtu+header.EthernetLen+4 && !header.VirtioNetHdr(buf).IsGSO() {
		return drop(DropTooBig)
	}
	v := switchL2(s, in, net, dst)
	if w.tr != nil {
		w.traceSwitch(net, dst, v)
	}
	if v.Action == ActFlood && !dst.IsMulticast() && in.guard != nil && !in.guard.storm.take(now, w.tr.dry()) {
		return drop(DropStorm) // unknown unicast floods like a broadcast (guard.go counts those)
	}
	return v
}

// switchL2 is the bridge's forwarding decision (IEEE 802.1Q 8.8): known
// unicast to its port, the rest flooded.
func switchL2(s *snapshot, in *Port, net *Network, dst header.MAC) Verdict {
	if dst.IsMulticast() {
		if dst[0] == 0x01 && dst[1] == 0x80 && dst[2] == 0xc2 && dst[3] == 0 && dst[4] == 0 && dst[5] <= 0x0f {
			return drop(DropLinkLocal)
		}
		return floodVerdict(in, net)
	}
	p, ok := net.FDB.Lookup(dst.Uint64())
	if !ok {
		return floodVerdict(in, net)
	}
	if p == in.Index {
		return drop(DropSamePort)
	}
	if out := s.port(p); out == nil || out.Net != in.Net {
		return drop(DropNoPort)
	}
	return Verdict{Action: ActForward, Port: p}
}

func floodVerdict(in *Port, net *Network) Verdict {
	if len(net.Ports) <= 1 {
		return drop(DropNoDest)
	}
	return flood(net.ID)
}
