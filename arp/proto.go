package arp

import (
	"encoding/binary"
	"net/netip"

	"vswitch/header"
)

// ARP for Ethernet and IPv4 (RFC 826): 28 bytes after a 14-byte Ethernet
// header.
//
//	0      2      4    5    6      8         14        18        24        28
//	┌──────┬──────┬────┬────┬──────┬─────────┬─────────┬─────────┬─────────┐
//	│htype │ptype │hlen│plen│  op  │ sender  │ sender  │ target  │ target  │
//	│  1   │0x0800│ 6  │ 4  │      │   MAC   │   IP    │   MAC   │   IP    │
//	└──────┴──────┴────┴────┴──────┴─────────┴─────────┴─────────┴─────────┘
//
// The dataplane's header package will have an ARP view too; this package
// keeps its own few lines so that it owns the protocol it speaks.
const (
	OpRequest = 1
	OpReply   = 2

	// HeaderLen is the length of an Ethernet/IPv4 ARP packet.
	HeaderLen = 28
	// FrameLen is the length of the frames the builders write: Ethernet
	// header plus ARP, unpadded. Ports hand frames to the kernel (TAP, veth,
	// AF_PACKET), which pads to the 60-byte minimum where a wire needs it.
	FrameLen = header.EthernetLen + HeaderLen

	htypeEthernet = 1
)

// BuildRequest writes a broadcast request from srcMAC/srcIP asking for
// targetIP into buf and returns the 42-byte frame. It writes into buf when
// cap(buf) >= FrameLen (to put a virtio_net_hdr in front, pass buf[10:]) and
// allocates otherwise. It returns nil if an address is not IPv4.
func BuildRequest(buf []byte, srcMAC header.MAC, srcIP, targetIP netip.Addr) []byte {
	return build(buf, header.BroadcastMAC, OpRequest, srcMAC, srcIP, header.MAC{}, targetIP)
}

// BuildRequestTo writes a request unicast to dstMAC: the poll of a stale
// entry (Probe.Dst). As in Linux's arp_solicit, the target MAC field stays
// zero; only the Ethernet destination differs from BuildRequest.
func BuildRequestTo(buf []byte, srcMAC header.MAC, srcIP netip.Addr, dstMAC header.MAC, targetIP netip.Addr) []byte {
	return build(buf, dstMAC, OpRequest, srcMAC, srcIP, header.MAC{}, targetIP)
}

// BuildReply writes the reply of srcMAC/srcIP (the address asked for) to the
// requester dstMAC/dstIP, unicast. Buffer rules as BuildRequest.
func BuildReply(buf []byte, srcMAC header.MAC, srcIP netip.Addr, dstMAC header.MAC, dstIP netip.Addr) []byte {
	return build(buf, dstMAC, OpReply, srcMAC, srcIP, dstMAC, dstIP)
}

// BuildGratuitous writes an ARP announcement of ip at mac (RFC 5227 section
// 2.3): a broadcast request whose sender and target address are both ip, so
// that neighbours update their caches (RFC 826 merge) without any of them
// answering. vswitchd sends one when a gateway or uplink address comes up.
func BuildGratuitous(buf []byte, mac header.MAC, ip netip.Addr) []byte {
	return build(buf, header.BroadcastMAC, OpRequest, mac, ip, header.MAC{}, ip)
}

func build(buf []byte, ethDst header.MAC, op uint16, sha header.MAC, spa netip.Addr, tha header.MAC, tpa netip.Addr) []byte {
	if !(spa.Is4() || spa.Is4In6()) || !(tpa.Is4() || tpa.Is4In6()) {
		return nil
	}
	if cap(buf) < FrameLen {
		buf = make([]byte, FrameLen)
	}
	b := buf[:FrameLen]
	eth := header.Ethernet(b)
	eth.SetDst(ethDst)
	eth.SetSrc(sha)
	eth.SetType(header.EtherTypeARP)
	a := b[header.EthernetLen:]
	binary.BigEndian.PutUint16(a[0:2], htypeEthernet)
	binary.BigEndian.PutUint16(a[2:4], header.EtherTypeIPv4)
	a[4], a[5] = 6, 4
	binary.BigEndian.PutUint16(a[6:8], op)
	copy(a[8:14], sha[:])
	s4 := spa.As4()
	copy(a[14:18], s4[:])
	copy(a[18:24], tha[:])
	t4 := tpa.As4()
	copy(a[24:28], t4[:])
	return b
}

// ParseARP reads an Ethernet frame (without virtio_net_hdr) carrying ARP for
// Ethernet and IPv4. ok is false if the frame is short, not ARP, or not
// htype 1 / ptype 0x0800 / hlen 6 / plen 4; op is returned as found (OpRequest,
// OpReply or anything else, for the caller to judge). Bytes after the 28 of
// ARP (Ethernet padding) are ignored. It never allocates.
func ParseARP(frame []byte) (op uint16, senderMAC header.MAC, senderIP netip.Addr, targetMAC header.MAC, targetIP netip.Addr, ok bool) {
	if len(frame) < FrameLen || header.Ethernet(frame).Type() != header.EtherTypeARP {
		return
	}
	a := frame[header.EthernetLen:FrameLen]
	if binary.BigEndian.Uint16(a[0:2]) != htypeEthernet ||
		binary.BigEndian.Uint16(a[2:4]) != header.EtherTypeIPv4 ||
		a[4] != 6 || a[5] != 4 {
		return
	}
	op = binary.BigEndian.Uint16(a[6:8])
	copy(senderMAC[:], a[8:14])
	senderIP = netip.AddrFrom4([4]byte(a[14:18]))
	copy(targetMAC[:], a[18:24])
	targetIP = netip.AddrFrom4([4]byte(a[24:28]))
	return op, senderMAC, senderIP, targetMAC, targetIP, true
}
