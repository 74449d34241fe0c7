package header

import (
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
)

// serialize builds a reference packet with gopacket, the oracle the views
// are compared with: lengths fixed up and checksums computed by gopacket.
func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
		t.Fatalf("gopacket serialize: %v", err)
	}
	return buf.Bytes()
}

// netIP converts for gopacket, which speaks net.IP; only tests use it.
func netIP(a netip.Addr) net.IP { return net.IP(a.AsSlice()) }

// gopacketPayload wraps data as a gopacket payload layer.
func gopacketPayload(b []byte) gopacket.Payload { return gopacket.Payload(b) }

func addrOf(ip net.IP) netip.Addr {
	a, _ := netip.AddrFromSlice(ip)
	return a.Unmap()
}
