package dataplane

import (
	"testing"

	"vswitch/arp"
	"vswitch/fdb"
	"vswitch/header"
)

// TestICCFalse: on a network with icc=false, IP between two of its ports is
// dropped with reason icc while ARP still passes, as Docker's
// FORWARD -i docker0 -o docker0 -j DROP leaves ARP alone.
func TestICCFalse(t *testing.T) {
	tb := newTestbed(t, 1)
	n := tb.network("n", fdb.Config{})
	a, b := tb.port("a", n), tb.port("b", n)
	tb.dp.SetL3(map[uint16]NetL3{n: {NoICC: true}}, nil)

	arpReq := make([]byte, header.VirtioNetHdrLen+arp.FrameLen)
	arp.BuildRequest(arpReq[header.VirtioNetHdrLen:], stationMAC(1), stationIP(1), stationIP(2))
	tb.send(a, arpReq)
	tb.expect(map[*tport][][]byte{b: {arpReq}})

	tb.send(a, udpFrame(t, header.BroadcastMAC, stationMAC(1), 64, 1))
	tb.send(a, udpFrame(t, stationMAC(2), stationMAC(1), 64, 2))
	tb.expect(nil)
	wantDrops(t, a, map[DropReason]uint64{DropICC: 2})

	// icc back on: the same frame is switched.
	tb.dp.SetL3(map[uint16]NetL3{n: {}}, nil)
	f := udpFrame(t, header.BroadcastMAC, stationMAC(1), 64, 3)
	tb.send(a, f)
	tb.expect(map[*tport][][]byte{b: {f}})
}
