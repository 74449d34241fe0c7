package dataplane

import (
	"cmp"
	"io"
	"log/slog"
	"net/netip"
	"reflect"
	"slices"
	"testing"
	"time"

	"vswitch/arp"
	"vswitch/dataplane/port"
	"vswitch/fdb"
	"vswitch/header"
	"vswitch/nat"
	"vswitch/policy"
	"vswitch/routing"
)

// Tests of tracing (trace.go): a dry run changes nothing and decides what
// the real path decides; each stage's step names the state it used; a live
// trace records real frames without changing how they are forwarded.

// tracebed is an unstarted dataplane whose worker the test drives itself:
// A (a1 with port security, storm and conn-rate limits; a2) and B (b1),
// both masquerading and not connected; the uplink U (up); B's ACL allows
// TCP 80 only; TCP 8000 on every address is published to a1's host 8080.
type tracebed struct {
	dp          *Dataplane
	w           *worker
	clock       *fakeClock
	a1, a2, b1  *Port
	up          *Port
	chans       []*port.Chan
	acl         *policy.ACL
	na, nb, nu  uint16
	allowRuleID int
}

func newTracebed(t testing.TB) *tracebed {
	t.Helper()
	b := &tracebed{clock: newFakeClock(), allowRuleID: 7}
	b.dp = New(Options{Workers: 1, Batch: benchBatch, Now: b.clock.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	w, err := newWorker(b.dp, 0)
	if err != nil {
		t.Fatalf("newWorker: %v", err)
	}
	b.w = w
	t.Cleanup(func() {
		w.close()
		for _, c := range b.chans {
			c.Close()
		}
	})
	b.na, _ = b.dp.AddNetwork("A", fdb.Config{})
	b.nb, _ = b.dp.AddNetwork("B", fdb.Config{})
	b.nu, _ = b.dp.AddNetwork("U", fdb.Config{})
	add := func(name string, net uint16) uint16 {
		ch, err := port.NewChan(false)
		if err != nil {
			t.Fatal(err)
		}
		b.chans = append(b.chans, ch)
		idx, err := b.dp.AddPort(name, net, ch)
		if err != nil {
			t.Fatal(err)
		}
		return idx
	}
	ia1, ia2, ib1, iup := add("a1", b.na), add("a2", b.na), add("b1", b.nb), add("up", b.nu)
	b.dp.SetL3(map[uint16]NetL3{
		b.na: {GatewayIP: gwIPA, GatewayMAC: gwMACA, Subnet: subnetA, MTU: mtuA, Masquerade: true},
		b.nb: {GatewayIP: gwIPB, GatewayMAC: gwMACB, Subnet: subnetB, MTU: mtuB, Masquerade: true},
		b.nu: {GatewayIP: uplinkIP, GatewayMAC: uplinkMAC, Subnet: subnetU, MTU: 1500, Uplink: true},
	}, routing.Build([]routing.Route{
		{Prefix: subnetA, Network: b.na, Kind: routing.Connected},
		{Prefix: subnetB, Network: b.nb, Kind: routing.Connected},
		{Prefix: subnetU, Network: b.nu, Kind: routing.Connected},
		{Prefix: netip.MustParsePrefix("0.0.0.0/0"), Network: b.nu, Kind: routing.Default, Via: hostX},
	}))
	b.dp.SetPublish([]PublishRule{{ID: 1, Network: b.na, Proto: header.ProtoTCP, HostPort: 8000, To: netip.AddrPortFrom(hostA1, 8080)}})
	b.acl = policy.New(policy.Deny, []policy.Rule{{ID: b.allowRuleID, Action: policy.Allow, Proto: header.ProtoTCP, DPortMin: 80, DPortMax: 80, Priority: 10}})
	b.dp.SetACL(b.nb, b.acl)
	if err := b.dp.SetGuard(ia1, GuardConfig{PortSecurity: true, MAC: macA1, IP: hostA1, StormPPS: 100, ConnRate: 100}); err != nil {
		t.Fatal(err)
	}
	now := b.clock.Now().UnixNano()
	for _, h := range []struct {
		ip  netip.Addr
		mac header.MAC
		net uint16
	}{{hostA1, macA1, b.na}, {hostB1, macB1, b.nb}, {hostX, macX, b.nu}} {
		if _, err := b.dp.ARP().SetPermanent(h.ip, h.mac, h.net); err != nil {
			t.Fatal(err)
		}
	}
	b.dp.FDB(b.na).Learn(macA1.Uint64(), ia1, now)
	b.dp.FDB(b.na).Learn(macA2.Uint64(), ia2, now)
	b.dp.FDB(b.nb).Learn(macB1.Uint64(), ib1, now)
	s := b.dp.cfg.Load()
	b.a1, b.a2, b.b1, b.up = s.port(ia1), s.port(ia2), s.port(ib1), s.port(iup)
	return b
}

// sideState is everything a frame can change outside its own buffer.
type sideState struct {
	FDB      map[uint16][]fdb.Entry
	ARP      []arp.Entry
	CT       []nat.Entry
	Stats    map[string][]uint64
	Drops    map[string]uint64
	Written  []uint64
	Hits     []uint64
	Storm    int64
	ConnRate int64
	Frags    int
}

func (b *tracebed) state() sideState {
	now := b.clock.Now().UnixNano()
	st := sideState{FDB: map[uint16][]fdb.Entry{}, Stats: map[string][]uint64{}, Drops: b.dp.Drops()}
	for _, n := range []uint16{b.na, b.nb, b.nu} {
		st.FDB[n] = b.dp.FDB(n).Entries(now)
	}
	st.ARP = b.dp.ARP().Entries(now)
	slices.SortFunc(st.ARP, func(x, y arp.Entry) int { return x.IP.Compare(y.IP) })
	st.CT = b.dp.Conntrack().Entries(now)
	slices.SortFunc(st.CT, func(x, y nat.Entry) int { return cmp.Compare(x.Orig.String(), y.Orig.String()) })
	for _, p := range []*Port{b.a1, b.a2, b.b1, b.up} {
		v := []uint64{p.Stats.RxPackets.Load(), p.Stats.TxPackets.Load(), p.Stats.RxBytes.Load(), p.Stats.TxBytes.Load()}
		for r := range p.Stats.Drops {
			v = append(v, p.Stats.Drops[r].Load())
		}
		st.Stats[p.Name] = v
	}
	for _, c := range b.chans {
		st.Written = append(st.Written, c.Written.Load())
	}
	for _, r := range b.acl.Rules() {
		st.Hits = append(st.Hits, r.Hits.Load())
	}
	g := b.dp.cfg.Load().port(b.a1.Index).guard
	st.Storm, st.ConnRate = g.storm.tat.Load(), g.conn.tat.Load()
	b.dp.frags.mu.Lock()
	st.Frags = len(b.dp.frags.m)
	b.dp.frags.mu.Unlock()
	return st
}

// traceCases are frames covering every stage with state: learning, the
// guard, switching and flooding, the router's ARP and ping, isolation and
// the ACL, masquerade and publish (new flows, then a tracked one), a next
// hop to resolve, and the ICMP errors of TTL and no route.
func traceCases(t testing.TB, b *tracebed) []struct {
	name string
	in   *Port
	buf  []byte
} {
	unknownB := netip.MustParseAddr("10.2.0.50")
	return []struct {
		name string
		in   *Port
		buf  []byte
	}{
		{"switched", b.a1, udpPkt(t, from(macA1, macA2, hostA1, hostA2), 40000, 9, []byte("l2"))},
		{"unknown-unicast", b.a1, udpPkt(t, from(macA1, header.MAC{2, 9, 9, 9, 9, 9}, hostA1, hostA2), 40000, 9, []byte("fl"))},
		{"new-source-mac", b.a2, udpPkt(t, from(header.MAC{2, 7, 7, 7, 7, 7}, macA1, hostA2, hostA1), 40000, 9, []byte("nw"))},
		{"spoofed", b.a1, udpPkt(t, from(macA1, macA2, hostA2, hostA1), 40000, 9, []byte("sp"))},
		{"isolated", b.a1, udpPkt(t, from(macA1, gwMACA, hostA1, hostB1), 40000, 9, []byte("is"))},
		{"acl-allowed", b.a1, tcpPkt(t, from(macA1, gwMACA, hostA1, hostB1), 40000, 80, true, false, nil)},
		{"acl-tracked", b.a1, tcpPkt(t, from(macA1, gwMACA, hostA1, hostB1), 40000, 80, false, true, nil)},
		{"masquerade", b.a1, udpPkt(t, from(macA1, gwMACA, hostA1, hostX), 40001, 53, []byte("mq"))},
		{"masquerade-tracked", b.a1, udpPkt(t, from(macA1, gwMACA, hostA1, hostX), 40001, 53, []byte("mq"))},
		{"publish", b.up, tcpPkt(t, fromX(uplinkIP), 33000, 8000, true, false, nil)},
		{"arp-pending", b.a1, tcpPkt(t, from(macA1, gwMACA, hostA1, unknownB), 40002, 80, true, false, nil)},
		{"ttl", b.a1, func() []byte {
			p := from(macA1, gwMACA, hostA1, hostX)
			p.ttl = 1
			return udpPkt(t, p, 40003, 53, []byte("tl"))
		}()},
		{"ping-gateway", b.a1, from(macA1, gwMACA, hostA1, gwIPA).icmp(t, header.Echo, 0, 0x00070001, []byte("pi"))},
		{"arp-for-gateway", b.a2, rawFrame(header.BroadcastMAC, macA2, header.EtherTypeARP,
			arpFrame(header.BroadcastMAC, arp.OpRequest, macA2, hostA2, header.MAC{}, gwIPA)[header.VirtioNetHdrLen+header.EthernetLen:])},
		{"not-ours", b.up, udpPkt(t, from(macX, macA1, hostX, uplinkIP), 53, 9, []byte("no"))},
		{"malformed", b.a1, rawFrame(gwMACA, macA1, header.EtherTypeIPv4, []byte{0x45, 0, 0})},
	}
}

// TestTraceDryRunChangesNothing: for each case, a dry run leaves every
// table, counter, bucket and port as it was, and decides what the real
// path then decides for the same frame (verdict and the frame it sends).
func TestTraceDryRunChangesNothing(t *testing.T) {
	b := newTracebed(t)
	for _, c := range traceCases(t, b) {
		b.clock.Advance(3 * time.Second) // a refresh by the dry run would show in the ages
		before := b.state()
		pt, err := b.dp.Trace(c.in.Index, c.buf[header.VirtioNetHdrLen:])
		if err != nil {
			t.Fatalf("%s: Trace: %v", c.name, err)
		}
		if after := b.state(); !reflect.DeepEqual(before, after) {
			t.Errorf("%s: the dry run changed state:\nbefore %+v\nafter  %+v", c.name, before, after)
		}
		s := b.dp.cfg.Load()
		buf := slices.Clone(c.buf)
		real := b.w.decide(s, s.port(c.in.Index), buf, b.clock.Now().UnixNano())
		if pt.Verdict != real {
			t.Errorf("%s: dry run verdict %+v, real path %+v (steps %+v)", c.name, pt.Verdict, real, pt.StepList())
		}
		if real.Len > 0 {
			buf = buf[:real.Len]
		}
		if got, want := pt.After, frameInfoOf(buf); got != want {
			t.Errorf("%s: dry run sends %+v, the real path %+v", c.name, got, want)
		}
		if pt.N == 0 {
			t.Errorf("%s: no steps recorded", c.name)
		}
		if pt.Verdict.Action == ActDrop {
			if last := pt.Steps[pt.N-1]; last.Decision != "drop" || last.Reason != pt.Verdict.Reason {
				t.Errorf("%s: last step %+v does not name the drop %v", c.name, last, pt.Verdict.Reason)
			}
		}
		b.w.out.flush(s) // what the real path queued (ICMP errors, ARP requests) leaves, as after a batch
		b.w.ngen = 0
	}
}

// FuzzTraceDryRun: for any frame on any port, a dry run changes nothing,
// and decides what the real path then decides, except where only learning
// would make the difference (a new source MAC that is also the frame's
// destination: the real path has just learned it on the ingress port). The
// bed lives across inputs, so the real runs fill its tables as traffic would.
func FuzzTraceDryRun(f *testing.F) {
	b := newTracebed(f)
	for i, c := range traceCases(f, b) {
		f.Add(uint8(i%4), c.buf[header.VirtioNetHdrLen:])
	}
	ports := []*Port{b.a1, b.a2, b.b1, b.up}
	f.Fuzz(func(t *testing.T, which uint8, frame []byte) {
		if len(frame) > 9000 {
			return
		}
		in := ports[int(which)%len(ports)]
		b.clock.Advance(time.Millisecond)
		before := b.state()
		pt, err := b.dp.Trace(in.Index, frame)
		if err != nil {
			t.Fatalf("Trace: %v", err)
		}
		if after := b.state(); !reflect.DeepEqual(before, after) {
			t.Fatalf("the dry run changed state:\nbefore %+v\nafter  %+v\nsteps %+v", before, after, pt.StepList())
		}
		s := b.dp.cfg.Load()
		buf := append(make([]byte, header.VirtioNetHdrLen), frame...)
		learns := false
		if len(frame) >= header.EthernetLen {
			src := header.Ethernet(frame).Src()
			p, known := s.network(in.Net).FDB.Lookup(src.Uint64())
			learns = (!known || p != in.Index) && header.Ethernet(frame).Dst() == src
		}
		real := b.w.decide(s, s.port(in.Index), buf, b.clock.Now().UnixNano())
		b.w.out.flush(s)
		b.w.ngen = 0
		if pt.Verdict != real && !learns {
			t.Fatalf("dry run verdict %+v, real path %+v\nsteps %+v", pt.Verdict, real, pt.StepList())
		}
	})
}

// step returns the first step of stage st, failing when there is none.
func step(t *testing.T, pt PacketTrace, st Stage) Step {
	t.Helper()
	for _, s := range pt.StepList() {
		if s.Stage == st {
			return s
		}
	}
	t.Fatalf("no %v step in %+v", st, pt.StepList())
	return Step{}
}

func traceOf(t *testing.T, b *tracebed, in *Port, buf []byte) PacketTrace {
	t.Helper()
	pt, err := b.dp.Trace(in.Index, buf[header.VirtioNetHdrLen:])
	if err != nil {
		t.Fatal(err)
	}
	return pt
}

// TestTraceSteps: the steps name the state each stage used.
func TestTraceSteps(t *testing.T) {
	b := newTracebed(t)

	// Switched: the FDB entry of the destination.
	pt := traceOf(t, b, b.a1, udpPkt(t, from(macA1, macA2, hostA1, hostA2), 40000, 9, nil))
	if s := step(t, pt, StageL2); s.Decision != "forward" || !s.Found || s.MAC != macA2 || s.Port != b.a2.Index {
		t.Errorf("l2 step %+v, want forward by the FDB entry of %v on a2", s, macA2)
	}
	if s := step(t, pt, StageLearn); s.Decision != "known" || s.Port != b.a1.Index {
		t.Errorf("learn step %+v, want a known source on a1", s)
	}

	// Isolated: dropped there, naming B; the ACL's default is what it met.
	pt = traceOf(t, b, b.a1, udpPkt(t, from(macA1, gwMACA, hostA1, hostB1), 40000, 9, nil))
	if pt.Verdict != drop(DropIsolation) {
		t.Fatalf("verdict %+v, want drop isolation", pt.Verdict)
	}
	if s := step(t, pt, StageIsolation); s.Reason != DropIsolation || s.Net != b.nb {
		t.Errorf("isolation step %+v", s)
	}
	if s := step(t, pt, StageACL); s.Rule != 0 || s.Action != policy.Deny {
		t.Errorf("acl step %+v, want B's default deny", s)
	}
	if s := step(t, pt, StageRoute); s.Route.Prefix != subnetB || s.Route.Kind != routing.Connected {
		t.Errorf("route step %+v, want B's connected route", s)
	}

	// Allowed by rule 7: the route, the conn it would make, the neighbour
	// and the egress.
	pt = traceOf(t, b, b.a1, tcpPkt(t, from(macA1, gwMACA, hostA1, hostB1), 40000, 80, true, false, nil))
	if pt.Verdict.Action != ActForward || pt.Verdict.Port != b.b1.Index {
		t.Fatalf("verdict %+v, want forward to b1", pt.Verdict)
	}
	if s := step(t, pt, StageACL); s.Rule != b.allowRuleID || s.Action != policy.Allow {
		t.Errorf("acl step %+v, want rule %d allow", s, b.allowRuleID)
	}
	var created bool
	for _, s := range pt.StepList() {
		if s.Stage == StageConntrack && s.Decision == "would-create" && s.Conn.DPort == 80 && s.Reply == s.Conn.Reverse() {
			created = true
		}
	}
	if !created {
		t.Errorf("no would-create conntrack step with an untranslated reply in %+v", pt.StepList())
	}
	if s := step(t, pt, StageNeighbour); s.Decision != "hit" || s.IP != hostB1 || s.MAC != macB1 || s.Neigh != arp.Permanent {
		t.Errorf("neighbour step %+v, want b1's permanent entry", s)
	}
	if s := step(t, pt, StageEgress); s.Port != b.b1.Index || s.MAC != macB1 {
		t.Errorf("egress step %+v, want b1", s)
	}
	if pt.After.SrcMAC != gwMACB || pt.After.DstMAC != macB1 || pt.After.TTL != 63 {
		t.Errorf("sent as %+v, want from B's gateway MAC to b1's, TTL 63", pt.After)
	}

	// Masquerade: the rewrite to the uplink's address.
	pt = traceOf(t, b, b.a1, udpPkt(t, from(macA1, gwMACA, hostA1, hostX), 40001, 53, nil))
	if s := step(t, pt, StageNAT); s.Decision != "snat" || s.From.Src != hostA1.As4() || s.To.Src != uplinkIP.As4() {
		t.Errorf("nat step %+v, want snat %v -> %v", s, hostA1, uplinkIP)
	}
	if pt.After.Src != uplinkIP || pt.Verdict.Port != b.up.Index {
		t.Errorf("sent from %v by port %d, want %v by up", pt.After.Src, pt.Verdict.Port, uplinkIP)
	}

	// Publish: the DNAT to a1's host.
	pt = traceOf(t, b, b.up, tcpPkt(t, fromX(uplinkIP), 33000, 8000, true, false, nil))
	if s := step(t, pt, StageNAT); s.Decision != "dnat" || s.To.Dst != hostA1.As4() || s.To.DPort != 8080 {
		t.Errorf("nat step %+v, want dnat to %v:8080", s, hostA1)
	}
	if pt.Verdict.Action != ActForward || pt.Verdict.Port != b.a1.Index || pt.After.Dst != hostA1 || pt.After.DPort != 8080 {
		t.Errorf("verdict %+v sent as %+v, want a1 to %v:8080", pt.Verdict, pt.After, hostA1)
	}

	// A TTL of 1: the ICMP error it would send, and the drop.
	p := from(macA1, gwMACA, hostA1, hostX)
	p.ttl = 1
	pt = traceOf(t, b, b.a1, udpPkt(t, p, 40003, 53, nil))
	if s := step(t, pt, StageICMP); s.Decision != "would-send" || s.ICMPType != header.TimeExceeded {
		t.Errorf("icmp step %+v, want a time exceeded it would send", s)
	}
	if pt.Verdict != drop(DropTTL) {
		t.Errorf("verdict %+v, want drop ttl", pt.Verdict)
	}

	// After `network connect`: the same isolated frame is routed.
	s := b.dp.cfg.Load()
	l3 := map[uint16]NetL3{}
	for _, id := range []uint16{b.na, b.nb, b.nu} {
		l3[id] = s.network(id).L3
	}
	la, lb := l3[b.na], l3[b.nb]
	la.Connected, lb.Connected = []uint16{b.nb}, []uint16{b.na}
	l3[b.na], l3[b.nb] = la, lb
	b.dp.SetL3(l3, nil)
	b.dp.SetACL(b.nb, nil)
	pt = traceOf(t, b, b.a1, udpPkt(t, from(macA1, gwMACA, hostA1, hostB1), 40000, 9, nil))
	if pt.Verdict.Action != ActForward || pt.Verdict.Port != b.b1.Index {
		t.Fatalf("connected: verdict %+v, want forward to b1", pt.Verdict)
	}
	if s := step(t, pt, StageIsolation); s.Decision != "pass" || s.Note != "networks connected" {
		t.Errorf("connected: isolation step %+v", s)
	}
}

// TestTraceLive: a live trace records the frames its filter matches, both
// ways, as the worker forwards them unchanged; a full buffer drops records
// and counts them, it never holds up the worker.
func TestTraceLive(t *testing.T) {
	b := newTracebed(t)
	lt, err := b.dp.StartLive(LiveFilter{Src: hostB1, Dst: hostA1, Proto: header.ProtoTCP}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.dp.StartLive(LiveFilter{}, 1); err != ErrLiveBusy {
		t.Errorf("second live trace: %v, want ErrLiveBusy", err)
	}
	s := b.dp.cfg.Load()
	run := func(in *Port, frames ...[]byte) {
		bufs, sizes := b.w.bufs[:len(frames)], b.w.sizes[:len(frames)]
		for i, f := range frames {
			sizes[i] = copy(bufs[i], f)
		}
		b.w.forwardBatch(s, in, bufs, sizes)
	}
	syn := tcpPkt(t, from(macA1, gwMACA, hostA1, hostB1), 40000, 80, true, false, nil)
	other := udpPkt(t, from(macA1, macA2, hostA1, hostA2), 40000, 9, nil)
	written := b.chans[2].Written.Load()
	run(b.a1, other, syn, other)
	if got := b.chans[2].Written.Load() - written; got != 1 {
		t.Fatalf("b1 got %d frames, want the SYN", got)
	}
	pt := <-lt.C
	if pt.In != b.a1.Index || pt.Verdict.Action != ActForward || pt.Verdict.Port != b.b1.Index {
		t.Fatalf("record %+v, want the SYN forwarded a1 -> b1", pt)
	}
	if s := step(t, pt, StageConntrack); s.Decision != "new" {
		t.Errorf("first conntrack step %+v, want new", s)
	}
	created := false
	for _, st := range pt.StepList() {
		created = created || (st.Stage == StageConntrack && st.Decision == "created")
	}
	if !created || b.dp.Conntrack().Len() != 1 {
		t.Errorf("live SYN: conn created %v, table %d: the live path must do what it always does", created, b.dp.Conntrack().Len())
	}
	// The answer, from b1: the filter matches the other way too.
	synack := tcpPkt(t, from(macB1, gwMACB, hostB1, hostA1), 80, 40000, true, true, nil)
	run(b.b1, synack)
	pt = <-lt.C
	if pt.In != b.b1.Index || pt.Verdict.Port != b.a1.Index {
		t.Fatalf("answer record %+v, want b1 -> a1", pt)
	}
	if s := step(t, pt, StageConntrack); s.Decision != "hit" || s.CtState == nat.None {
		t.Errorf("answer conntrack step %+v, want a hit", s)
	}
	// Five at once into a buffer of 2: 2 kept, 3 counted lost.
	ack := tcpPkt(t, from(macA1, gwMACA, hostA1, hostB1), 40000, 80, false, true, nil)
	run(b.a1, ack, ack, ack, ack, ack)
	if got := lt.Overflow(); got != 3 {
		t.Errorf("overflow %d, want 3", got)
	}
	if n := len(lt.C); n != 2 {
		t.Errorf("%d records waiting, want 2", n)
	}
	if lt.Stop() != 3 {
		t.Error("Stop does not report the overflow")
	}
	run(b.a1, ack)
	if n := len(lt.C); n != 2 {
		t.Errorf("after Stop: %d records, want still 2", n)
	}
	if _, err := b.dp.StartLive(LiveFilter{}, 1); err != nil {
		t.Errorf("after Stop a new live trace: %v", err)
	}
}

// TestTraceLivePort: with --port, a frame is recorded when it enters or
// leaves by that port.
func TestTraceLivePort(t *testing.T) {
	b := newTracebed(t)
	lt, err := b.dp.StartLive(LiveFilter{Port: b.a2.Index}, 8)
	if err != nil {
		t.Fatal(err)
	}
	defer lt.Stop()
	s := b.dp.cfg.Load()
	frames := [][]byte{
		udpPkt(t, from(macA1, macA2, hostA1, hostA2), 40000, 9, nil),                              // out by a2
		tcpPkt(t, from(macA1, gwMACA, hostA1, hostB1), 40000, 80, true, false, nil),               // neither
		udpPkt(t, from(macA1, header.MAC{2, 9, 9, 9, 9, 9}, hostA1, hostA2), 40000, 9, []byte{1}), // flooded: a2 too
	}
	bufs, sizes := b.w.bufs[:3], b.w.sizes[:3]
	for i, f := range frames {
		sizes[i] = copy(bufs[i], f)
	}
	b.w.forwardBatch(s, b.a1, bufs, sizes)
	if n := len(lt.C); n != 2 {
		t.Fatalf("%d records, want 2 (the frame to a2 and the flood)", n)
	}
	if pt := <-lt.C; pt.Verdict.Action != ActForward || pt.Verdict.Port != b.a2.Index {
		t.Errorf("first record %+v, want forward to a2", pt.Verdict)
	}
	if pt := <-lt.C; pt.Verdict.Action != ActFlood {
		t.Errorf("second record %+v, want the flood", pt.Verdict)
	}
}

// TestTraceFastPathAllocs: a batch still allocates nothing with a live
// trace running, matching or not.
func TestTraceFastPathAllocs(t *testing.T) {
	b := newTracebed(t)
	s := b.dp.cfg.Load()
	frame := tcpPkt(t, from(macA1, gwMACA, hostA1, hostB1), 40000, 80, true, false, nil)
	run := func() {
		bufs, sizes := b.w.bufs[:benchBatch], b.w.sizes[:benchBatch]
		for i := range bufs {
			sizes[i] = copy(bufs[i], frame)
		}
		b.w.forwardBatch(s, b.a1, bufs, sizes)
	}
	run()
	for _, f := range []LiveFilter{{Dst: netip.MustParseAddr("192.0.2.99")}, {Dst: hostB1}} {
		lt, err := b.dp.StartLive(f, 4)
		if err != nil {
			t.Fatal(err)
		}
		if a := testing.AllocsPerRun(20, run); a != 0 {
			t.Errorf("live filter %+v: %v allocs per batch", f, a)
		}
		lt.Stop()
	}
}

// BenchmarkForwardBatchLiveOther is BenchmarkForwardBatch while a live
// trace runs whose filter matches none of the frames: what watching costs
// the traffic not watched (each frame's headers read once more).
func BenchmarkForwardBatchLiveOther(b *testing.B) {
	bb := newBenchbed(b, 2)
	lt, err := bb.dp.StartLive(LiveFilter{Dst: netip.MustParseAddr("192.0.2.99")}, 4)
	if err != nil {
		b.Fatal(err)
	}
	defer lt.Stop()
	benchForward(b, bb, udpFrame(b, stationMAC(2), stationMAC(1), 64, 0), 1)
}

// TestBuildFrame: the synthetic frames are what a stack sends: gopacket
// reads them with every checksum right.
func TestBuildFrame(t *testing.T) {
	for _, proto := range []uint8{header.ProtoTCP, header.ProtoUDP, header.ProtoICMP} {
		f, err := BuildFrame(TraceSpec{SrcMAC: macA1, DstMAC: gwMACA, Src: hostA1, Dst: hostB1, Proto: proto, SPort: 40000, DPort: 80})
		if err != nil {
			t.Fatal(err)
		}
		buf := append(make([]byte, header.VirtioNetHdrLen), f...)
		ip := checkIPv4(t, buf)
		if proto == header.ProtoICMP {
			checkICMP(t, ip)
		} else {
			checkL4(t, ip)
		}
		fi := frameInfoOf(buf)
		if fi.Src != hostA1 || fi.Dst != hostB1 || fi.Proto != proto || fi.TTL != 64 {
			t.Errorf("proto %d: %+v", proto, fi)
		}
	}
	if _, err := BuildFrame(TraceSpec{Src: hostA1, Dst: hostB1, Proto: 47}); err == nil {
		t.Error("GRE built")
	}
}

// A live trace with Drops follows only the frames the pipeline drops, and
// says why: what a reader of the drop counters asks next.
func TestTraceLiveDrops(t *testing.T) {
	b := newTracebed(t)
	lt, err := b.dp.StartLive(LiveFilter{Drops: true}, 8)
	if err != nil {
		t.Fatal(err)
	}
	defer lt.Stop()
	s := b.dp.cfg.Load()
	ok := udpPkt(t, from(macA1, macA2, hostA1, hostA2), 40000, 9, nil)
	expiring := from(macA1, gwMACA, hostA1, hostB1)
	expiring.ttl = 1
	ttl := udpPkt(t, expiring, 40000, 9, nil)
	frames := [][]byte{ok, ttl, ok}
	bufs, sizes := b.w.bufs[:len(frames)], b.w.sizes[:len(frames)]
	for i, f := range frames {
		sizes[i] = copy(bufs[i], f)
	}
	b.w.forwardBatch(s, b.a1, bufs, sizes)
	if n := len(lt.C); n != 1 {
		t.Fatalf("%d records, want only the dropped frame's", n)
	}
	pt := <-lt.C
	if pt.Verdict.Action != ActDrop || pt.Verdict.Reason == DropNone || pt.Before.Dst != hostB1 {
		t.Errorf("record %+v of %+v, want the frame to b1 dropped with its reason", pt.Verdict, pt.Before)
	}
}

// A drop is said once, by the stage that drops, even when the ICMP error
// it sent follows it in the steps (no route: net unreachable).
func TestTraceDropOnce(t *testing.T) {
	var tr tracer
	tr.add(Step{Stage: StageRoute, Decision: "drop", Reason: DropNoRoute})
	tr.add(Step{Stage: StageICMP, Decision: "sent"})
	tr.finish(drop(DropNoRoute))
	if tr.n != 2 {
		t.Errorf("%d steps, want the route drop and the icmp error only: %+v", tr.n, tr.steps[:tr.n])
	}
	// An ACL's deny is its drop: no second acl step.
	var acl tracer
	acl.add(Step{Stage: StageACL, Decision: "deny", Action: policy.Deny})
	acl.finish(drop(DropACL))
	if acl.n != 1 {
		t.Errorf("%d steps after an ACL deny, want 1: %+v", acl.n, acl.steps[:acl.n])
	}
	// A drop no stage said gets its own step, after the others.
	tr.finish(drop(DropTTL))
	if tr.n != 3 || tr.steps[2].Stage != StageTTL || tr.steps[2].Reason != DropTTL {
		t.Errorf("steps %+v, want a ttl drop step last", tr.steps[:tr.n])
	}
}
