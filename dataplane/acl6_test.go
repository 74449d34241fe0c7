package dataplane

import (
	"net/netip"
	"testing"

	"github.com/google/gopacket/layers"

	"vswitch/header"
	"vswitch/policy"
)

// The ACLs for IPv6 (acl6.go) on the routerbed's dual-stack networks A
// and B: switched inside A, routed from A into B, stateful through the
// IPv6 conntrack, with IPv4 rules in the same ACL left to IPv4.

func echo6(t *testing.T, smac, dmac header.MAC, src, dst netip.Addr, typ uint8, id uint16) []byte {
	return icmp6Buf(t, smac, dmac, src, dst, 64, typ, &layers.ICMPv6Echo{Identifier: id, SeqNumber: 1})
}

func rule(id int, act policy.Action, src, dst string, proto uint8) policy.Rule {
	r := policy.Rule{ID: id, Action: act, Proto: proto, Priority: 10}
	if src != "" {
		r.Src = netip.MustParsePrefix(src)
	}
	if dst != "" {
		r.Dst = netip.MustParsePrefix(dst)
	}
	return r
}

// TestACL6Switched: A's ACL denies by default and allows a1's pings: the
// request a1 -> a2 passes and is tracked, so a2's reply passes too; a2's
// own ping and a UDP datagram are dropped (acl), its neighbour
// solicitation is not; an IPv4 deny rule of the same ACL does not touch
// IPv6, nor the IPv6 allow rule IPv4.
func TestACL6Switched(t *testing.T) {
	rb := v6bed(t)
	rb.neighbours(t, []neighbour{{host6A2, macA2, rb.netA, rb.a2}})
	acl := policy.New(policy.Deny, []policy.Rule{
		rule(1, policy.Deny, "10.1.0.0/24", "", policy.ProtoICMPv6), // never IPv6: refused by the daemon, harmless here
		rule(2, policy.Allow, host6A1.String()+"/128", "", policy.ProtoICMPv6),
	})
	rb.dp.SetACL(rb.netA, acl)

	req := echo6(t, macA1, macA2, host6A1, host6A2, layers.ICMPv6TypeEchoRequest, 0x77)
	rb.send(rb.a1, req)
	rb.exact(t, rb.outputs(), map[*tport][][]byte{rb.a2: {req}})
	reply := echo6(t, macA2, macA1, host6A2, host6A1, layers.ICMPv6TypeEchoReply, 0x77)
	rb.send(rb.a2, reply)
	rb.exact(t, rb.outputs(), map[*tport][][]byte{rb.a1: {reply}})
	if h := acl.Rules()[1].Hits.Load(); h != 1 {
		t.Errorf("rule 2 hits %d, want 1: the reply is the tracked flow's, not judged", h)
	}

	own := echo6(t, macA2, macA1, host6A2, host6A1, layers.ICMPv6TypeEchoRequest, 0x78)
	udp := rawFrame(macA1, macA2, header.EtherTypeIPv6, ip6Pkt(host6A2, host6A1, header.ProtoUDP, []byte{0x9c, 0x40, 0, 53, 0, 8, 0, 0}))
	rb.send(rb.a2, own, udp)
	rb.only(t, rb.outputs(), nil)
	wantDrops(t, rb.a2, map[DropReason]uint64{DropACL: 2})

	ns := nsBuf(t, macA2, header.MulticastMAC6(header.SolicitedNode(host6A1)), host6A2, header.SolicitedNode(host6A1), host6A1, 255)
	rb.send(rb.a2, ns)
	if got := rb.outputs(); len(got[rb.a1]) != 1 {
		t.Errorf("a neighbour solicitation under default deny: a1 got %d frames, want it", len(got[rb.a1]))
	}
	wantDrops(t, rb.a2, map[DropReason]uint64{DropACL: 2})

	// A trace of a2's ping shows the ACL's default deciding.
	f := own[header.VirtioNetHdrLen:]
	pt, err := rb.dp.Trace(rb.a2.idx, f)
	if err != nil {
		t.Fatal(err)
	}
	var aclStep *Step
	for i, st := range pt.StepList() {
		if st.Stage == StageACL {
			aclStep = &pt.StepList()[i]
		}
	}
	if pt.Verdict.Reason != DropACL || aclStep == nil || aclStep.Rule != 0 || aclStep.Action != policy.Deny {
		t.Errorf("trace: verdict %+v, acl step %+v; want the default's deny", pt.Verdict, aclStep)
	}
	// And of a1's: rule 2, and the conn it would create.
	pt, _ = rb.dp.Trace(rb.a1.idx, echo6(t, macA1, macA2, host6A1, host6A2, 128, 0x79)[header.VirtioNetHdrLen:])
	var sawRule, sawCT bool
	for _, st := range pt.StepList() {
		sawRule = sawRule || (st.Stage == StageACL && st.Rule == 2)
		sawCT = sawCT || st.Stage == StageConntrack
	}
	if !sawRule || !sawCT || pt.Verdict.Action == ActDrop {
		t.Errorf("trace of a1's ping: %+v, verdict %+v; want rule 2 and a conntrack step", pt.StepList(), pt.Verdict)
	}
}

// TestACL6Routed: B's ACL decides what is routed into B: an allow rule
// admits a flow isolation alone would drop (A and B not connected), a
// deny rule drops a flow isolation lets through; the rules see IPv6 only.
func TestACL6Routed(t *testing.T) {
	rb := route6bed(t, false)
	rb.neighbours(t, []neighbour{{host6B1, macB1, rb.netB, rb.b1}, {host6A1, macA1, rb.netA, rb.a1}})
	p := echo6Buf(t, host6B1, 64, 8)
	rb.send(rb.a1, p)
	rb.only(t, rb.outputs(), nil)
	wantDrops(t, rb.a1, map[DropReason]uint64{DropIsolation: 1})

	rb.dp.SetACL(rb.netB, policy.New(policy.Allow, []policy.Rule{
		rule(1, policy.Allow, "fd00:a::/64", host6B1.String()+"/128", policy.ProtoICMPv6),
	}))
	rb.send(rb.a1, p)
	rb.exact(t, rb.outputs(), map[*tport][][]byte{rb.b1: {wantRouted6(p, macB1)}})
	// Its reply comes back on the flow the ACL opened, isolation or not.
	reply := icmp6Buf(t, macB1, gwMACB, host6B1, host6A1, 64, layers.ICMPv6TypeEchoReply, &layers.ICMPv6Echo{Identifier: 0x66, SeqNumber: 1})
	rb.send(rb.b1, reply)
	if got := rb.outputs(); len(got[rb.a1]) != 1 {
		t.Errorf("the reply of an admitted flow: a1 got %d frames, want 1", len(got[rb.a1]))
	}
	wantDrops(t, rb.b1, nil)

	rb2 := route6bed(t, true)
	rb2.neighbours(t, []neighbour{{host6B1, macB1, rb2.netB, rb2.b1}})
	deny := policy.New(policy.Allow, []policy.Rule{
		rule(1, policy.Deny, "10.0.0.0/8", "", 0),
		rule(2, policy.Deny, "", "fd00:b::/64", policy.ProtoICMPv6),
	})
	rb2.dp.SetACL(rb2.netB, deny)
	rb2.send(rb2.a1, p)
	rb2.only(t, rb2.outputs(), nil)
	wantDrops(t, rb2.a1, map[DropReason]uint64{DropACL: 1})
	if h0, h1 := deny.Rules()[0].Hits.Load(), deny.Rules()[1].Hits.Load(); h0 != 0 || h1 != 1 {
		t.Errorf("hits %d (IPv4 rule), %d (IPv6 rule); want 0, 1", h0, h1)
	}
}

// TestACL6SourceTracked: an ACL on the source network makes its routed
// flows tracked, so the answers into it pass its default deny, while a
// flow started from outside it does not.
func TestACL6SourceTracked(t *testing.T) {
	rb := route6bed(t, true)
	rb.neighbours(t, []neighbour{{host6B1, macB1, rb.netB, rb.b1}, {host6A1, macA1, rb.netA, rb.a1}})
	rb.dp.SetACL(rb.netA, policy.New(policy.Deny, nil))
	p := echo6Buf(t, host6B1, 64, 8)
	rb.send(rb.a1, p)
	rb.exact(t, rb.outputs(), map[*tport][][]byte{rb.b1: {wantRouted6(p, macB1)}})
	reply := icmp6Buf(t, macB1, gwMACB, host6B1, host6A1, 64, layers.ICMPv6TypeEchoReply, &layers.ICMPv6Echo{Identifier: 0x66, SeqNumber: 1})
	rb.send(rb.b1, reply)
	if got := rb.outputs(); len(got[rb.a1]) != 1 {
		t.Errorf("the answer to a1's ping: a1 got %d frames, want 1", len(got[rb.a1]))
	}
	in := icmp6Buf(t, macB1, gwMACB, host6B1, host6A1, 64, layers.ICMPv6TypeEchoRequest, &layers.ICMPv6Echo{Identifier: 0x99, SeqNumber: 1})
	rb.send(rb.b1, in)
	rb.only(t, rb.outputs(), nil)
	wantDrops(t, rb.b1, map[DropReason]uint64{DropACL: 1})
}

// BenchmarkACL6Switched is a tracked IPv6 flow switched through a network
// with an ACL: the conntrack hit every packet after the first pays.
func BenchmarkACL6Switched(b *testing.B) {
	bb := newBenchbed(b, 3)
	bb.dp.SetACL(bb.net, policy.New(policy.Deny, []policy.Rule{rule(1, policy.Allow, "fd00:a::/64", "", policy.ProtoUDP)}))
	s := bb.dp.cfg.Load()
	in := s.port(bb.ports[0].Index)
	udp := []byte{0x9c, 0x40, 0, 53, 0, 8, 0, 0}
	buf := rawFrame(stationMAC(2), stationMAC(1), header.EtherTypeIPv6, ip6Pkt(g6Own, g6Victim, header.ProtoUDP, udp))
	now := bb.dp.opts.Now().UnixNano()
	if v := bb.w.decide(s, in, buf, now); v.Action != ActForward {
		b.Fatalf("verdict %+v, want forward", v)
	}
	b.ReportAllocs()
	b.ResetTimer()
	var v Verdict
	for i := 0; i < b.N; i++ {
		v = bb.w.decide(s, in, buf, now)
	}
	sinkVerdict = v
	if a := testing.AllocsPerRun(100, func() { sinkVerdict = bb.w.decide(s, in, buf, now) }); a != 0 {
		b.Fatalf("%v allocs per frame, want 0", a)
	}
}
