package dataplane

import (
	"testing"
	"time"

	"vswitch/dataplane/port"
	"vswitch/fdb"
	"vswitch/header"
)

// 802.1Q: access ports and trunks (vlan.go) on in-memory ports. A Chan
// carries tags in line, as a device without tx-vlan offload would; the
// out-of-line tags of AF_PACKET (PACKET_AUXDATA) come through tagChan.

// tagged is buf (virtio_net_hdr + untagged frame) with a tag of tpid and
// vid pushed after the addresses, the virtio_net_hdr's offsets moved.
func tagged(buf []byte, tpid, vid uint16) []byte {
	const at = header.VirtioNetHdrLen + header.MACsLen
	out := make([]byte, 0, len(buf)+4)
	out = append(out, buf[:at]...)
	out = append(out, byte(tpid>>8), byte(tpid), byte(vid>>8), byte(vid))
	out = append(out, buf[at:]...)
	header.VirtioNetHdr(out).ShiftL2(4)
	return out
}

// trunkbed: networks v10 (VLAN 10) and v20 (VLAN 20), an access port on
// each, and a trunk carrying both.
type trunkbed struct {
	*testbed
	n10, n20 uint16
	a10, a20 *tport
	trunk    *tport
}

func newTrunkbed(t *testing.T, native uint16) *trunkbed {
	tb := &trunkbed{testbed: newTestbed(t, 1)}
	tb.n10, tb.n20 = tb.network("v10", fdb.Config{}), tb.network("v20", fdb.Config{})
	for id, vid := range map[uint16]uint16{tb.n10: 10, tb.n20: 20} {
		if err := tb.dp.SetNetworkVLAN(id, vid); err != nil {
			t.Fatal(err)
		}
	}
	tb.a10, tb.a20 = tb.port("a10", tb.n10), tb.port("a20", tb.n20)
	ch, err := port.NewChan(true)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := tb.dp.AddTrunk("trunk", ch)
	if err != nil {
		t.Fatal(err)
	}
	if err := tb.dp.SetTrunk(idx, []TrunkVLAN{{10, tb.n10}, {20, tb.n20}}, native); err != nil {
		t.Fatal(err)
	}
	tb.trunk = &tport{name: "trunk", idx: idx, ch: ch, stats: tb.dp.PortStats(idx)}
	tb.mu.Lock()
	tb.ports = append(tb.ports, tb.trunk)
	tb.mu.Unlock()
	return tb
}

// A frame tagged 10 on the trunk reaches VLAN 10's access port untagged and
// nothing else; one from VLAN 20's access port leaves the trunk tagged 20;
// learned unicast goes back tagged; frames of a VLAN the trunk does not
// carry and service tags are dropped as vlan, untagged ones without a
// native VLAN as untagged.
func TestTrunkTagsInAndOut(t *testing.T) {
	tb := newTrunkbed(t, 0)
	h1, h2, h3 := stationMAC(1), stationMAC(2), stationMAC(3)
	bc10 := udpFrame(t, header.BroadcastMAC, h1, 80, 1)
	tb.send(tb.trunk, tagged(bc10, header.EtherTypeVLAN, 10))
	tb.expect(map[*tport][][]byte{tb.a10: {bc10}})

	bc20 := udpFrame(t, header.BroadcastMAC, h2, 80, 2)
	tb.send(tb.a20, bc20)
	tb.expect(map[*tport][][]byte{tb.trunk: {tagged(bc20, header.EtherTypeVLAN, 20)}})

	// h1 was learned on the trunk's VLAN 10 member: known unicast from
	// the access port goes to the trunk, tagged 10.
	uni := udpFrame(t, h1, h3, 80, 3)
	tb.send(tb.a10, uni)
	tb.expect(map[*tport][][]byte{tb.trunk: {tagged(uni, header.EtherTypeVLAN, 10)}})
	if p, ok := tb.fdbPort(tb.n10, h1); !ok || p == tb.trunk.idx || p == 0 {
		t.Errorf("h1 learned on port %d (ok %v), want the trunk's VLAN 10 member", p, ok)
	}
	if _, ok := tb.fdbPort(tb.n20, h1); ok {
		t.Error("h1, seen on VLAN 10, was learned on VLAN 20 too")
	}

	tb.send(tb.trunk,
		tagged(udpFrame(t, header.BroadcastMAC, h1, 80, 4), header.EtherTypeVLAN, 30), // not carried
		udpFrame(t, header.BroadcastMAC, h1, 80, 5),                                   // untagged, no native
		tagged(udpFrame(t, header.BroadcastMAC, h1, 80, 6), header.EtherTypeQinQ, 10), // service tag
	)
	tb.expect(nil)
	wantDrops(t, tb.trunk, map[DropReason]uint64{DropVLAN: 2, DropUntagged: 1})
}

// With a native VLAN, untagged frames on the trunk go to it and its
// frames leave the trunk untagged; tagged ones of the other VLAN stay
// tagged.
func TestTrunkNativeVLAN(t *testing.T) {
	tb := newTrunkbed(t, 10)
	bc := udpFrame(t, header.BroadcastMAC, stationMAC(1), 80, 1)
	tb.send(tb.trunk, bc)
	tb.expect(map[*tport][][]byte{tb.a10: {bc}})
	bc10 := udpFrame(t, header.BroadcastMAC, stationMAC(2), 80, 2)
	bc20 := udpFrame(t, header.BroadcastMAC, stationMAC(3), 80, 3)
	tb.send(tb.a10, bc10)
	tb.send(tb.a20, bc20)
	tb.expect(map[*tport][][]byte{tb.trunk: {bc10, tagged(bc20, header.EtherTypeVLAN, 20)}})
}

// An access port's frames are untagged: a tagged one is dropped as vlan
// before it is learned.
func TestAccessPortDropsTagged(t *testing.T) {
	tb := newTrunkbed(t, 0)
	f := tagged(udpFrame(t, header.BroadcastMAC, stationMAC(1), 80, 1), header.EtherTypeVLAN, 10)
	tb.send(tb.a10, f)
	tb.expect(nil)
	wantDrops(t, tb.a10, map[DropReason]uint64{DropVLAN: 1})
	if _, ok := tb.fdbPort(tb.n10, stationMAC(1)); ok {
		t.Error("the dropped frame's source was learned")
	}
}

// A GSO super-frame keeps its offloads across the trunk: popped, its
// csum_start and hdr_len lose the tag's 4 bytes; pushed, they gain them.
func TestTrunkGSO(t *testing.T) {
	tb := newTrunkbed(t, 0)
	gso := gsoTCPFrame(t, stationMAC(2), stationMAC(1), 10)
	// Learn stationMAC(2) on the access port first: the super-frame is
	// unicast.
	tb.send(tb.a10, udpFrame(t, header.BroadcastMAC, stationMAC(2), 80, 1))
	tb.expect(map[*tport][][]byte{tb.trunk: {tagged(udpFrame(t, header.BroadcastMAC, stationMAC(2), 80, 1), header.EtherTypeVLAN, 10)}})
	in := tagged(gso, header.EtherTypeVLAN, 10)
	if vh := header.VirtioNetHdr(in); vh.CsumStart() != header.EthernetLen+20+4 {
		t.Fatalf("test frame: csum_start %d", vh.CsumStart())
	}
	tb.send(tb.trunk, in)
	tb.expect(map[*tport][][]byte{tb.a10: {gso}})
	back := gsoTCPFrame(t, stationMAC(1), stationMAC(2), 10)
	tb.send(tb.a10, back)
	tb.settle()
	got := tb.trunk.ch.Recv()
	if len(got) != 1 {
		t.Fatalf("trunk got %d frames, want 1", len(got))
	}
	vh := header.VirtioNetHdr(got[0])
	if vh.CsumStart() != header.EthernetLen+4+20 || vh.HdrLen() != header.EthernetLen+4+40 || !vh.IsGSO() || vh.GSOSize() != 1448 {
		t.Errorf("tagged super-frame's virtio_net_hdr: csum_start %d hdr_len %d gso %v size %d, want %d %d true 1448",
			vh.CsumStart(), vh.HdrLen(), vh.IsGSO(), vh.GSOSize(), header.EthernetLen+24, header.EthernetLen+64)
	}
	if tag := header.VLANTag(got[0][header.VirtioNetHdrLen+12:]); tag.TPID() != header.EtherTypeVLAN || tag.VID() != 10 {
		t.Errorf("tag %04x/%d, want 8100/10", tag.TPID(), tag.VID())
	}
}

// SetTrunk keeps the member of a VLAN that stays (its FDB entries too) and
// removes the others; RemovePort of the trunk removes every member.
func TestTrunkMembersFollowSetTrunk(t *testing.T) {
	tb := newTrunkbed(t, 0)
	tb.send(tb.trunk, tagged(udpFrame(t, header.BroadcastMAC, stationMAC(1), 80, 1), header.EtherTypeVLAN, 10),
		tagged(udpFrame(t, header.BroadcastMAC, stationMAC(2), 80, 2), header.EtherTypeVLAN, 20))
	tb.expect(map[*tport][][]byte{tb.a10: {udpFrame(t, header.BroadcastMAC, stationMAC(1), 80, 1)},
		tb.a20: {udpFrame(t, header.BroadcastMAC, stationMAC(2), 80, 2)}})
	m10, ok := tb.fdbPort(tb.n10, stationMAC(1))
	if !ok {
		t.Fatal("stationMAC(1) not learned on VLAN 10")
	}
	if err := tb.dp.SetTrunk(tb.trunk.idx, []TrunkVLAN{{10, tb.n10}}, 0); err != nil {
		t.Fatal(err)
	}
	if p, ok := tb.fdbPort(tb.n10, stationMAC(1)); !ok || p != m10 {
		t.Errorf("VLAN 10's entry: port %d (ok %v), want %d kept", p, ok, m10)
	}
	if _, ok := tb.fdbPort(tb.n20, stationMAC(2)); ok {
		t.Error("VLAN 20's entry survived its member")
	}
	if n := len(tb.dp.cfg.Load().network(tb.n20).Ports); n != 1 {
		t.Errorf("v20 has %d ports, want 1 (the access port)", n)
	}
	tb.send(tb.trunk, tagged(udpFrame(t, header.BroadcastMAC, stationMAC(2), 80, 3), header.EtherTypeVLAN, 20))
	tb.expect(nil)
	wantDrops(t, tb.trunk, map[DropReason]uint64{DropVLAN: 1})
	if err := tb.dp.SetTrunk(tb.trunk.idx, []TrunkVLAN{{10, tb.n10}}, 20); err == nil {
		t.Error("a native VLAN the trunk does not carry was taken")
	}
	if err := tb.dp.RemovePort(tb.trunk.idx); err != nil {
		t.Fatal(err)
	}
	if n := len(tb.dp.cfg.Load().network(tb.n10).Ports); n != 1 {
		t.Errorf("v10 has %d ports after the trunk went, want 1", n)
	}
	if tb.dp.cfg.Load().port(m10) != nil {
		t.Error("the VLAN 10 member outlived its trunk")
	}
}

// tagChan is a Chan whose device reports every frame of a batch as tagged
// with tag, as AF_PACKET does with PACKET_AUXDATA: the frames themselves
// come untagged.
type tagChan struct {
	*port.Chan
	tags []uint16
}

func (c *tagChan) Tags() []uint16 { return c.tags }

// vlanBench is an unstarted dataplane (as benchbed) with v10 and v20, an
// access port on each, and a trunk whose device reports tags out of line.
type vlanBench struct {
	dp           *Dataplane
	w            *worker
	trunk        *Port
	a10, a20     *Port
	c10, c20, ct *port.Chan
	tc           *tagChan
}

func newVLANBench(tb testing.TB) *vlanBench {
	tb.Helper()
	dp := New(Options{Workers: 1, Batch: benchBatch})
	w, err := newWorker(dp, 0)
	if err != nil {
		tb.Fatal(err)
	}
	vb := &vlanBench{dp: dp, w: w}
	mk := func() *port.Chan {
		c, err := port.NewChan(false)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { c.Close() })
		return c
	}
	vb.c10, vb.c20, vb.ct = mk(), mk(), mk()
	tb.Cleanup(w.close)
	n10, _ := dp.AddNetwork("v10", fdb.Config{})
	n20, _ := dp.AddNetwork("v20", fdb.Config{})
	dp.SetNetworkVLAN(n10, 10)
	dp.SetNetworkVLAN(n20, 20)
	i10, _ := dp.AddPort("a10", n10, vb.c10)
	i20, _ := dp.AddPort("a20", n20, vb.c20)
	vb.tc = &tagChan{Chan: vb.ct, tags: make([]uint16, benchBatch)}
	it, err := dp.AddTrunk("trunk", vb.tc)
	if err != nil {
		tb.Fatal(err)
	}
	if err := dp.SetTrunk(it, []TrunkVLAN{{10, n10}, {20, n20}}, 0); err != nil {
		tb.Fatal(err)
	}
	now := time.Now().UnixNano()
	dp.FDB(n10).Learn(stationMAC(2).Uint64(), i10, now)
	members, _, _ := dp.Trunk(it)
	dp.FDB(n20).Learn(stationMAC(1).Uint64(), members[20], now)
	s := dp.cfg.Load()
	vb.trunk, vb.a10, vb.a20 = s.port(it), s.port(i10), s.port(i20)
	return vb
}

func (vb *vlanBench) fill(frame []byte) ([][]byte, []int) {
	bufs, sizes := vb.w.bufs[:benchBatch], vb.w.sizes[:benchBatch]
	for i := range bufs {
		sizes[i] = copy(bufs[i], frame)
	}
	return bufs, sizes
}

// Tags reported out of line pick the member, and a tag on an access
// AF_PACKET port is dropped.
func TestOutOfLineTags(t *testing.T) {
	vb := newVLANBench(t)
	s := vb.dp.cfg.Load()
	for i := range vb.tc.tags {
		vb.tc.tags[i] = 10
	}
	vb.tc.tags[3] = 30
	bufs, sizes := vb.fill(udpFrame(t, stationMAC(2), stationMAC(1), 64, 0))
	vb.w.forwardBatch(s, vb.trunk, bufs, sizes)
	if got := vb.c10.Written.Load(); got != benchBatch-1 {
		t.Errorf("VLAN 10's access port got %d frames, want %d", got, benchBatch-1)
	}
	if got := vb.trunk.Stats.Drops[DropVLAN].Load(); got != 1 {
		t.Errorf("vlan drops %d, want 1 (VLAN 30)", got)
	}
	// An access port whose device reports tags.
	acc := vb.a20
	acc.tagger = vb.tc
	bufs, sizes = vb.fill(udpFrame(t, header.BroadcastMAC, stationMAC(5), 64, 0))
	vb.w.forwardBatch(s, acc, bufs, sizes)
	if got := acc.Stats.Drops[DropVLAN].Load(); got != benchBatch {
		t.Errorf("access port: %d vlan drops, want %d", got, benchBatch)
	}
	acc.tagger = nil
}

// BenchmarkTrunkIngress: a batch of 64-byte frames read from a trunk with
// their tag out of line (AF_PACKET's case), each handed to its VLAN's
// member and switched to the access port.
func BenchmarkTrunkIngress(b *testing.B) {
	vb := newVLANBench(b)
	s := vb.dp.cfg.Load()
	for i := range vb.tc.tags {
		vb.tc.tags[i] = 10
	}
	bufs, sizes := vb.fill(udpFrame(b, stationMAC(2), stationMAC(1), 64, 0))
	vb.w.forwardBatch(s, vb.trunk, bufs, sizes)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		vb.w.forwardBatch(s, vb.trunk, bufs, sizes)
	}
	b.StopTimer()
	if got := vb.c10.Written.Load(); got != uint64(b.N+1)*benchBatch {
		b.Fatalf("%d frames out, want %d", got, (b.N+1)*benchBatch)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/(float64(b.N)*benchBatch), "ns/frame")
}

// BenchmarkTrunkEgress: a batch of 64-byte frames from an access port to a
// station behind the trunk, queued on the trunk's VLAN 20 member and
// written through its tagging egress.
func BenchmarkTrunkEgress(b *testing.B) {
	vb := newVLANBench(b)
	s := vb.dp.cfg.Load()
	bufs, sizes := vb.fill(udpFrame(b, stationMAC(1), stationMAC(3), 64, 0))
	vb.w.forwardBatch(s, vb.a20, bufs, sizes)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		vb.w.forwardBatch(s, vb.a20, bufs, sizes)
	}
	b.StopTimer()
	if got := vb.ct.Written.Load(); got != uint64(b.N+1)*benchBatch {
		b.Fatalf("%d frames out of the trunk, want %d", got, (b.N+1)*benchBatch)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/(float64(b.N)*benchBatch), "ns/frame")
}

// TestVLANAllocs: no allocation per batch, tagged in or out.
func TestVLANAllocs(t *testing.T) {
	vb := newVLANBench(t)
	s := vb.dp.cfg.Load()
	for i := range vb.tc.tags {
		vb.tc.tags[i] = 10
	}
	bufs, sizes := vb.fill(udpFrame(t, stationMAC(2), stationMAC(1), 64, 0))
	vb.w.forwardBatch(s, vb.trunk, bufs, sizes)
	if a := testing.AllocsPerRun(20, func() { vb.w.forwardBatch(s, vb.trunk, bufs, sizes) }); a != 0 {
		t.Errorf("trunk ingress: %v allocs per batch", a)
	}
	bufs, sizes = vb.fill(udpFrame(t, stationMAC(1), stationMAC(3), 64, 0))
	vb.w.forwardBatch(s, vb.a20, bufs, sizes)
	if a := testing.AllocsPerRun(20, func() { vb.w.forwardBatch(s, vb.a20, bufs, sizes) }); a != 0 {
		t.Errorf("trunk egress: %v allocs per batch", a)
	}
}

// BenchmarkTrunkIngressInline: as BenchmarkTrunkIngress with the tags in
// the frames (a device that leaves them in line), popped in place; the
// batch is tagged again, off the clock, for each round.
func BenchmarkTrunkIngressInline(b *testing.B) {
	vb := newVLANBench(b)
	s := vb.dp.cfg.Load()
	frame := tagged(udpFrame(b, stationMAC(2), stationMAC(1), 64, 0), header.EtherTypeVLAN, 10)
	bufs, sizes := vb.fill(frame)
	vb.w.forwardBatch(s, vb.trunk, bufs, sizes)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		bufs, sizes = vb.fill(frame)
		b.StartTimer()
		vb.w.forwardBatch(s, vb.trunk, bufs, sizes)
	}
	b.StopTimer()
	if got := vb.c10.Written.Load(); got != uint64(b.N+1)*benchBatch {
		b.Fatalf("%d frames out, want %d (drops %v)", got, (b.N+1)*benchBatch, vb.trunk.Stats.DropMap())
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/(float64(b.N)*benchBatch), "ns/frame")
}
