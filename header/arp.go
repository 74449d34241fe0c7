package header

import (
	"encoding/binary"
	"net/netip"
)

// ARPLen is the length of an ARP packet for IPv4 over Ethernet (RFC 826):
// 8 fixed bytes, then sender MAC, sender IP, target MAC, target IP.
const ARPLen = 28

// ARP operations (RFC 826).
const (
	ARPRequest = 1
	ARPReply   = 2
)

// ARP is a view over an ARP packet for IPv4 over Ethernet, the only kind the
// switch answers or learns from; Valid rejects every other hardware or
// protocol type.
type ARP []byte

// Valid reports a full-length packet with htype Ethernet (1), ptype IPv4,
// hlen 6 and plen 4. Trailing bytes (Ethernet padding) are allowed.
func (a ARP) Valid() bool {
	return len(a) >= ARPLen &&
		binary.BigEndian.Uint16(a[0:2]) == 1 &&
		binary.BigEndian.Uint16(a[2:4]) == EtherTypeIPv4 &&
		a[4] == 6 && a[5] == 4
}

// SetIPv4OverEthernet writes the fixed part (htype, ptype, hlen, plen) of a
// packet being built; set the operation and addresses after it.
func (a ARP) SetIPv4OverEthernet() {
	binary.BigEndian.PutUint16(a[0:2], 1)
	binary.BigEndian.PutUint16(a[2:4], EtherTypeIPv4)
	a[4], a[5] = 6, 4
}

func (a ARP) Op() uint16      { return binary.BigEndian.Uint16(a[6:8]) }
func (a ARP) SetOp(op uint16) { binary.BigEndian.PutUint16(a[6:8], op) }

func (a ARP) SenderMAC() (m MAC)        { copy(m[:], a[8:14]); return }
func (a ARP) SenderIP() netip.Addr      { return netip.AddrFrom4([4]byte(a[14:18])) }
func (a ARP) TargetMAC() (m MAC)        { copy(m[:], a[18:24]); return }
func (a ARP) TargetIP() netip.Addr      { return netip.AddrFrom4([4]byte(a[24:28])) }
func (a ARP) SetSenderMAC(m MAC)        { copy(a[8:14], m[:]) }
func (a ARP) SetTargetMAC(m MAC)        { copy(a[18:24], m[:]) }
func (a ARP) SetSenderIP(ip netip.Addr) { putAddr4(a[14:18], ip) }
func (a ARP) SetTargetIP(ip netip.Addr) { putAddr4(a[24:28], ip) }

// putAddr4 stores an IPv4 (or IPv4-mapped IPv6) address; As4 panics on
// any other, a programming error rather than bad input.
func putAddr4(b []byte, ip netip.Addr) {
	a := ip.As4()
	copy(b[:4], a[:])
}
