package dataplane

import (
	"vswitch/dataplane/header"
	"vswitch/fdb"
)

// decide is the pipeline for one frame arriving on port in. It learns the
// source, then picks the egress by destination MAC within the ingress
// network only: frames never cross networks at L2.
func decide(s *snapshot, in *Port, frame []byte, now int64) Verdict {
	if len(frame) < header.EthernetLen {
		return drop(DropMalformed)
	}
	eth := header.Ethernet(frame)
	src := eth.Src()
	if src.IsMulticast() || src.IsZero() {
		return drop(DropBadSrcMAC)
	}
	net := s.nets[in.Net]
	if net.FDB.Learn(src.Uint64(), in.Index, now) == fdb.LimitExceeded {
		return drop(DropMACLimit)
	}
	return switchL2(s, in, net, eth.Dst())
}

// switchL2 is the bridge's forwarding decision (IEEE 802.1Q 8.8): known
// unicast to its port, the rest flooded.
func switchL2(s *snapshot, in *Port, net *Network, dst header.MAC) Verdict {
	if dst.IsMulticast() {
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
	return Verdict{Action: ActFlood}
}
