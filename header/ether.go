package header

import (
	"encoding/binary"
	"fmt"
)

// MAC is an Ethernet address as a comparable value: usable as a map key, no
// allocation, unlike net.HardwareAddr.
type MAC [6]byte

// BroadcastMAC is ff:ff:ff:ff:ff:ff.
var BroadcastMAC = MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// IsMulticast reports the group bit (broadcast included), IEEE 802-2014 8.2.
func (m MAC) IsMulticast() bool { return m[0]&1 != 0 }

// IsBroadcast reports ff:ff:ff:ff:ff:ff.
func (m MAC) IsBroadcast() bool { return m == BroadcastMAC }

// IsZero reports 00:00:00:00:00:00, never a valid source.
func (m MAC) IsZero() bool { return m == MAC{} }

// Uint64 packs the address into the low 48 bits, the key of the FDB slots.
func (m MAC) Uint64() uint64 {
	return uint64(m[0])<<40 | uint64(m[1])<<32 | uint64(m[2])<<24 |
		uint64(m[3])<<16 | uint64(m[4])<<8 | uint64(m[5])
}

// MACFromUint64 is the inverse of MAC.Uint64.
func MACFromUint64(v uint64) MAC {
	return MAC{byte(v >> 40), byte(v >> 32), byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
}

func (m MAC) String() string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5])
}

// ParseMAC reads aa:bb:cc:dd:ee:ff (or with dashes).
func ParseMAC(s string) (MAC, error) {
	var m MAC
	if len(s) != 17 {
		return m, fmt.Errorf("bad MAC address %q: want six hex bytes like 02:42:ac:11:00:02", s)
	}
	for i := 0; i < 6; i++ {
		if i > 0 && s[i*3-1] != ':' && s[i*3-1] != '-' {
			return m, fmt.Errorf("bad MAC address %q: want six hex bytes like 02:42:ac:11:00:02", s)
		}
		hi, ok1 := unhex(s[i*3])
		lo, ok2 := unhex(s[i*3+1])
		if !ok1 || !ok2 {
			return m, fmt.Errorf("bad MAC address %q: want six hex bytes like 02:42:ac:11:00:02", s)
		}
		m[i] = hi<<4 | lo
	}
	return m, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// EtherTypes the dataplane looks at.
const (
	EtherTypeIPv4 = 0x0800
	EtherTypeARP  = 0x0806
	EtherTypeVLAN = 0x8100
	EtherTypeIPv6 = 0x86dd
)

// EthernetLen is the length of an untagged Ethernet II header.
const EthernetLen = 14

// Ethernet is a view over an Ethernet II header and what follows it.
type Ethernet []byte

// Valid reports whether the view is long enough for the header.
func (e Ethernet) Valid() bool { return len(e) >= EthernetLen }

func (e Ethernet) Dst() (m MAC)     { copy(m[:], e[0:6]); return }
func (e Ethernet) Src() (m MAC)     { copy(m[:], e[6:12]); return }
func (e Ethernet) SetDst(m MAC)     { copy(e[0:6], m[:]) }
func (e Ethernet) SetSrc(m MAC)     { copy(e[6:12], m[:]) }
func (e Ethernet) Type() uint16     { return binary.BigEndian.Uint16(e[12:14]) }
func (e Ethernet) SetType(t uint16) { binary.BigEndian.PutUint16(e[12:14], t) }
func (e Ethernet) Payload() []byte  { return e[EthernetLen:] }
