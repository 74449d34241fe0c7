package header

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// The Internet checksum (RFC 1071) is the one's complement of the one's
// complement sum of the data taken as big-endian 16-bit words. Sums are kept
// "unfolded" in a uint32 so pieces (pseudo-header, header, payload) can be
// accumulated before one Fold; a header field then stores ^Fold(sum).
//
// One's complement addition is associative and commutative and 2^16 ≡ 1
// (mod 2^16-1), so a sum of wider words with end-around carry, folded down,
// equals the sum of 16-bit words (RFC 1071 section 2, "parallel summation").
// Checksum uses that to add 8 bytes per step.

// Checksum adds b, as big-endian 16-bit words, to the one's complement sum
// initial and returns the new sum, not yet folded or complemented. An odd
// final byte is padded with a zero low byte (RFC 1071), so when summing a
// message in pieces every piece but the last must have an even length.
func Checksum(b []byte, initial uint32) uint32 {
	acc := uint64(initial)
	var c uint64
	// 32 bytes per iteration keeps the carry chain in registers; the carry
	// out of each add is fed into the next (end-around, deferred).
	for len(b) >= 32 {
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[0:8]), c)
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[8:16]), c)
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[16:24]), c)
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[24:32]), c)
		b = b[32:]
	}
	for len(b) >= 8 {
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b), c)
		b = b[8:]
	}
	// The tail words may be added at any even shift: 2^16 ≡ 1.
	if len(b) >= 4 {
		acc, c = bits.Add64(acc, uint64(binary.BigEndian.Uint32(b)), c)
		b = b[4:]
	}
	if len(b) >= 2 {
		acc, c = bits.Add64(acc, uint64(binary.BigEndian.Uint16(b)), c)
		b = b[2:]
	}
	if len(b) == 1 {
		acc, c = bits.Add64(acc, uint64(b[0])<<8, c)
	}
	// Return the last carry; acc+c cannot overflow again unless acc was
	// all ones, and then it is 0 and the final += 1 is exact.
	acc, c = bits.Add64(acc, 0, c)
	acc += c
	// 64 → 32 bits, end-around: at most 2^33-2 after the first step, and
	// the second step fits in 32 bits.
	acc = acc>>32 + acc&0xffffffff
	acc = acc>>32 + acc&0xffffffff
	return uint32(acc)
}

// Fold reduces an unfolded sum to 16 bits with end-around carry. The result
// is the one's complement sum itself, not its complement: a checksum field
// takes ^Fold(sum), and a received header whose sum includes its checksum
// field is intact when Fold gives 0xffff. Fold of a non-zero sum is never 0.
func Fold(sum uint32) uint16 {
	sum = sum>>16 + sum&0xffff
	sum = sum>>16 + sum&0xffff
	return uint16(sum)
}

// PseudoHeaderSum is the unfolded sum of the TCP/UDP/ICMPv6 pseudo-header:
// RFC 793/768 for IPv4 (src, dst, zero, proto, length) and RFC 8200
// section 8.1 for IPv6 (src, dst, 32-bit length, zeros, next header). src
// and dst must be the same family; an IPv4-mapped IPv6 address counts as
// IPv6, as it does on the wire.
func PseudoHeaderSum(src, dst netip.Addr, proto uint8, length uint16) uint32 {
	var sum uint32
	if src.Is4() {
		s, d := src.As4(), dst.As4()
		sum = Checksum(s[:], 0)
		sum = Checksum(d[:], sum)
	} else {
		s, d := src.As16(), dst.As16()
		sum = Checksum(s[:], 0)
		sum = Checksum(d[:], sum)
	}
	return sum + uint32(proto) + uint32(length)
}

// Incremental updates follow RFC 1624 equation 3, HC' = ~(~HC + ~m + m'),
// not equation 2 of RFC 1141 (HC' = HC + m - m'), which can give 0xffff
// (−0) where a full recomputation gives 0x0000. Starting from a checksum
// that a full computation produced, equation 3 gives exactly the value a
// full recomputation would, bit for bit, which the tests check. The cost is
// a few adds instead of a pass over the header: the TTL decrement and the
// NAT address and port rewrites use these on every forwarded packet.

// UpdateChecksum16 returns the checksum field sum after a 16-bit word of
// the covered data changed from old to new (RFC 1624 eqn. 3). For a UDP
// checksum of 0 ("none", RFC 768) the caller must leave the field alone.
func UpdateChecksum16(sum, old, new uint16) uint16 {
	s := uint32(^sum) + uint32(^old) + uint32(new)
	return ^Fold(s)
}

// UpdateChecksum32 returns the checksum field sum after a 4-byte field at
// an even offset (an IPv4 address) changed from old to new. It serves the
// IPv4 header checksum and, through the pseudo-header, a complete TCP or
// UDP checksum.
func UpdateChecksum32(sum uint16, old, new [4]byte) uint16 {
	s := uint32(^sum) +
		uint32(^binary.BigEndian.Uint16(old[0:2])) + uint32(^binary.BigEndian.Uint16(old[2:4])) +
		uint32(binary.BigEndian.Uint16(new[0:2])) + uint32(binary.BigEndian.Uint16(new[2:4]))
	return ^Fold(s)
}

// UpdatePartialChecksum32 updates the L4 checksum field of a
// CHECKSUM_PARTIAL frame (virtio_net_hdr flag NEEDS_CSUM, every GSO frame)
// after an IPv4 address in its pseudo-header changed from old to new.
//
// Such a field does not hold a checksum: it holds the folded, uncomplemented
// pseudo-header sum, which the device (or the kernel) later adds to the sum of
// the segment from csum_start and complements. So the change is added as is,
// ~old + new, with no complement before or after — what the kernel's
// inet_proto_csum_replace4 does when called with pseudohdr=true on a
// CHECKSUM_PARTIAL skb. Applying UpdateChecksum32 here instead would corrupt
// the checksum the device completes. A port change is not in the
// pseudo-header and leaves a partial field untouched.
func UpdatePartialChecksum32(partial uint16, old, new [4]byte) uint16 {
	s := uint32(partial) +
		uint32(^binary.BigEndian.Uint16(old[0:2])) + uint32(^binary.BigEndian.Uint16(old[2:4])) +
		uint32(binary.BigEndian.Uint16(new[0:2])) + uint32(binary.BigEndian.Uint16(new[2:4]))
	return Fold(s)
}
