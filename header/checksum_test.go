package header

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// checksumRef is the textbook RFC 1071 loop: one 16-bit word at a time,
// the slow reference the fast Checksum is held against.
func checksumRef(b []byte, initial uint32) uint32 {
	sum := uint64(initial)
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint64(b[i])<<8 | uint64(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint64(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return uint32(sum)
}

func TestChecksumKnown(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
		want uint16 // Fold(Checksum(b, 0))
	}{
		{"empty", nil, 0},
		{"one byte", []byte{0xab}, 0xab00},
		// RFC 1071 section 3 example: the sum is ddf2.
		{"rfc1071", []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}, 0xddf2},
		{"all ones", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 0xffff},
		{"carry", []byte{0xff, 0xff, 0x00, 0x01}, 0x0001},
		// The IPv4 header of RFC 791-era examples (Wikipedia's worked one):
		// with its checksum b861 in place the sum is ffff.
		{"ipv4 header", []byte{
			0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
			0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7}, 0xffff},
	}
	for _, tt := range tests {
		if got := Fold(Checksum(tt.b, 0)); got != tt.want {
			t.Errorf("%s: Fold(Checksum) = %#04x, want %#04x", tt.name, got, tt.want)
		}
		if got := uint16(checksumRef(tt.b, 0)); got != tt.want {
			t.Errorf("%s: checksumRef = %#04x, want %#04x", tt.name, got, tt.want)
		}
	}
}

// TestChecksumMatchesRef compares the 8-bytes-a-step sum with the 2-byte
// reference over random lengths, start offsets (alignment) and initial
// sums, including all-0xff data that stresses the carries.
func TestChecksumMatchesRef(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 4096+16)
	for i := 0; i < 20000; i++ {
		off := r.IntN(16)
		n := r.IntN(200)
		if i%4 == 0 {
			n = r.IntN(4096)
		}
		b := buf[off : off+n]
		switch i % 5 {
		case 0:
			for j := range b {
				b[j] = 0xff
			}
		case 1:
			clear(b)
		default:
			for j := range b {
				b[j] = byte(r.Uint32())
			}
		}
		var initial uint32
		switch i % 3 {
		case 1:
			initial = r.Uint32()
		case 2:
			initial = 0xffffffff
		}
		got, want := Fold(Checksum(b, initial)), Fold(checksumRef(b, initial))
		if got != want {
			t.Fatalf("len %d off %d initial %#x: Checksum %#04x, ref %#04x", n, off, initial, got, want)
		}
	}
}

// TestChecksumPieces checks the documented chaining: even-length pieces
// summed one after another equal the sum of the whole.
func TestChecksumPieces(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 2000; i++ {
		b := make([]byte, r.IntN(300))
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		cut := r.IntN(len(b)+1) &^ 1
		got := Fold(Checksum(b[cut:], Checksum(b[:cut], 0)))
		if want := Fold(checksumRef(b, 0)); got != want {
			t.Fatalf("len %d cut %d: %#04x, want %#04x", len(b), cut, got, want)
		}
	}
}

func TestFold(t *testing.T) {
	tests := []struct {
		in   uint32
		want uint16
	}{
		{0, 0}, {1, 1}, {0xffff, 0xffff}, {0x10000, 1}, {0x1fffe, 0xffff},
		{0xffffffff, 0xffff}, {0xfffeffff + 1, 0xffff},
	}
	for _, tt := range tests {
		if got := Fold(tt.in); got != tt.want {
			t.Errorf("Fold(%#x) = %#x, want %#x", tt.in, got, tt.want)
		}
	}
}

func TestPseudoHeaderSum(t *testing.T) {
	// Written out field by field as the RFCs lay the pseudo-headers out.
	src4, dst4 := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("192.168.1.200")
	ph4 := []byte{10, 0, 0, 1, 192, 168, 1, 200, 0, ProtoTCP, 0x05, 0xdc}
	if got, want := Fold(PseudoHeaderSum(src4, dst4, ProtoTCP, 1500)), Fold(checksumRef(ph4, 0)); got != want {
		t.Errorf("IPv4 pseudo-header: %#04x, want %#04x", got, want)
	}
	src6, dst6 := netip.MustParseAddr("fd00::1"), netip.MustParseAddr("2001:db8::ffff:1")
	ph6 := make([]byte, 40)
	s, d := src6.As16(), dst6.As16()
	copy(ph6[0:], s[:])
	copy(ph6[16:], d[:])
	binary.BigEndian.PutUint32(ph6[32:], 1280)
	ph6[39] = ProtoUDP
	if got, want := Fold(PseudoHeaderSum(src6, dst6, ProtoUDP, 1280)), Fold(checksumRef(ph6, 0)); got != want {
		t.Errorf("IPv6 pseudo-header: %#04x, want %#04x", got, want)
	}
}

// TestUpdateChecksum16Property: for random data with a correct checksum,
// rewriting any aligned word and updating incrementally gives exactly the
// checksum a full recomputation gives (RFC 1624 eqn. 3 has no −0 problem
// as long as the data is not all zero).
func TestUpdateChecksum16Property(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 50000; i++ {
		b := make([]byte, 4+2*r.IntN(30)) // b[0:2] is the checksum field
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		if i%7 == 0 {
			clear(b[2:]) // sums near zero
			b[2+2*r.IntN((len(b)-2)/2)] = byte(r.Uint32())
		}
		full := func() uint16 { return ^Fold(Checksum(b[2:], 0)) }
		c := full()
		w := 2 + 2*r.IntN((len(b)-2)/2)
		old := binary.BigEndian.Uint16(b[w:])
		nw := uint16(r.Uint32())
		switch i % 4 {
		case 1:
			nw = old
		case 2:
			nw = 0
		case 3:
			nw = 0xffff
		}
		binary.BigEndian.PutUint16(b[w:], nw)
		got, want := UpdateChecksum16(c, old, nw), full()
		if Fold(Checksum(b[2:], 0)) == 0 && got == 0 {
			// All-zero data, which no real header is, has two checksums:
			// 0xffff and 0x0000 (−0). Either is right.
			continue
		}
		if got != want {
			t.Fatalf("data % x word %d %#04x→%#04x: incremental %#04x, full %#04x", b[2:], w, old, nw, got, want)
		}
	}
}

func TestUpdateChecksum32Property(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for i := 0; i < 50000; i++ {
		b := make([]byte, 4+4*r.IntN(10))
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		c := ^Fold(Checksum(b, 0))
		w := 4 * r.IntN(len(b)/4)
		old := [4]byte(b[w : w+4])
		nw := [4]byte{byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())}
		if i%5 == 0 {
			nw = old
		}
		copy(b[w:], nw[:])
		if got, want := UpdateChecksum32(c, old, nw), ^Fold(Checksum(b, 0)); got != want {
			t.Fatalf("%v→%v: incremental %#04x, full %#04x", old, nw, got, want)
		}
	}
}

func randAddr4(r *rand.Rand) netip.Addr {
	var a [4]byte
	binary.BigEndian.PutUint32(a[:], r.Uint32())
	return netip.AddrFrom4(a)
}

// TestUpdatePartialChecksum32Property models a CHECKSUM_PARTIAL TCP frame
// the way Linux builds one: the checksum field holds the folded,
// uncomplemented pseudo-header sum. After a NAT rewrite of an address, the
// updated field must equal the pseudo-header sum of the new addresses, and
// completing it as a device would (complement of the sum from csum_start)
// must give the full checksum of the rewritten segment.
func TestUpdatePartialChecksum32Property(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for i := 0; i < 20000; i++ {
		seg := make(TCP, TCPMinLen+r.IntN(100))
		for j := range seg {
			seg[j] = byte(r.Uint32())
		}
		seg[12] = 5 << 4
		src, dst := randAddr4(r), randAddr4(r)
		n := uint16(len(seg))
		seg.SetChecksum(Fold(PseudoHeaderSum(src, dst, ProtoTCP, n)))

		nsrc := randAddr4(r)
		seg.SetChecksum(UpdatePartialChecksum32(seg.Checksum(), src.As4(), nsrc.As4()))
		if got, want := seg.Checksum(), Fold(PseudoHeaderSum(nsrc, dst, ProtoTCP, n)); got != want {
			t.Fatalf("partial after rewrite %#04x, want pseudo-header sum %#04x", got, want)
		}
		// A port rewrite leaves the partial field alone; completing must
		// still agree with the full checksum.
		seg.SetSrcPort(uint16(r.Uint32()))
		completed := ^Fold(Checksum(seg, 0))
		if want := seg.ComputeChecksum(nsrc, dst); completed != want {
			t.Fatalf("completed partial %#04x, full checksum %#04x", completed, want)
		}
	}
}
