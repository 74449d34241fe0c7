package dataplane

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"

	"vswitch/arp"
	"vswitch/dataplane/port"
	"vswitch/fdb"
	"vswitch/header"
	"vswitch/nat"
	"vswitch/policy"
	"vswitch/routing"
)

// Tracing: `vswitchctl trace` asks why a frame goes where it goes, in the
// spirit of OVS's ofproto/trace. The answer comes from the pipeline's own
// code, not from a model of it: decide runs with a tracer on the worker
// (w.tr), and each stage, behind `if w.tr != nil`, appends a Step saying
// what it decided and the state it used.
//
//	dry run (Dataplane.Trace)         live (Dataplane.StartLive)
//	a synthetic frame, a worker       real frames on the real workers,
//	made for the trace alone;         marked by a filter in forwardBatch;
//	every side effect skipped         nothing changed but the steps kept
//
// A dry run changes nothing: no FDB learning, no conntrack entry, no ARP
// entry, request or queued frame, no ICMP error or frame written, no
// counter, no ACL hit, no token taken from a guard's bucket. Where a stage
// would change state, the tracer's dry flag makes it look instead (a
// bucket's peek, a conn predicted rather than created, an ARP entry read
// without marking it used). The frames the router would make (ICMP errors,
// fragments) go into the trace worker's own queues, which are never
// written.
//
// The fast path pays a nil check of w.tr at each hook and, per batch, one
// atomic load of the live trace (BenchmarkForwardBatch before and after:
// docs/cli.md, "trace").

// Stage names the part of the pipeline a Step comes from.
type Stage uint8

const (
	StageFrame     Stage = iota // the frame itself (malformed)
	StagePolice                 // ingress policing (police.go)
	StageGuard                  // port security, storm limit (guard.go)
	StageLearn                  // FDB learning of the source MAC
	StageL2                     // switching by destination MAC, or to the router
	StageICC                    // icc=false between a network's own ports
	StageACL                    // the ACL of the network delivered to
	StageARP                    // ARP for or to a gateway
	StageConntrack              // the flow's conn: known, new, created
	StageLocal                  // for one of vswitchd's own addresses
	StageRoute                  // LPM route lookup
	StageIsolation              // which networks may reach which
	StageTTL                    // TTL check
	StageMTU                    // next hop's MTU
	StageNAT                    // the rewrite of addresses and ports
	StageNeighbour              // ARP entry of the next hop
	StageEgress                 // the port chosen
	StageICMP                   // an ICMP error the router sends
	StageInternal               // a bug met while tracing
	numStages
)

var stageNames = [numStages]string{
	"frame", "police", "guard", "fdb-learn", "l2", "icc", "acl", "arp", "conntrack", "local",
	"route", "isolation", "ttl", "mtu", "nat", "neighbour", "egress", "icmp", "internal",
}

func (s Stage) String() string {
	if s < numStages {
		return stageNames[s]
	}
	return "unknown"
}

// Step is one stage's record: what it decided, and the state it decided
// with. Fields a stage did not use stay zero. It holds no pointer into the
// tables (they change under the workers): every value is a copy.
type Step struct {
	Stage    Stage
	Decision string     // a constant word: pass, drop, learn, forward, flood, hit, new, ...
	Reason   DropReason // with Decision "drop"
	Note     string     // a constant: why, when the decision alone does not say

	MAC   header.MAC // FDB entry (learn, l2, egress), ARP entry (neighbour, arp)
	Port  uint16     // FDB entry's port; egress port
	Found bool       // an FDB or ARP entry was found
	IP    netip.Addr // ARP: the entry's address
	Neigh arp.State
	Queue int // ARP: frames waiting in the entry

	Route routing.Route // route: the route used (Found)
	Net   uint16        // the network a stage was about: route's, ACL's, isolation's destination

	Conn, Reply nat.Tuple // conntrack: the conn (Found), or the one it would create
	CtState     nat.State
	From, To    nat.Tuple // nat: the rewrite

	// Conn6, Reply6 are Conn and Reply of an IPv6 flow (nat6.go), set
	// instead of them: Conn6.Proto != 0 says which.
	Conn6, Reply6 nat.Tuple6

	Rule   int // acl: the rule that decided; 0: the default
	Action policy.Action

	ICMPType, ICMPCode uint8 // icmp: the error sent
}

// maxSteps bounds a trace: the longest walk (routed, NATed, with an ICMP
// error) makes about 14 steps.
const maxSteps = 24

// PacketTrace is one frame's walk through the pipeline.
type PacketTrace struct {
	In        uint16 // ingress port
	Net       uint16 // its network
	Time      int64  // unix ns
	Before    FrameInfo
	After     FrameInfo // the frame as it leaves (the router rewrites it)
	Verdict   Verdict
	Steps     [maxSteps]Step
	N         int  // steps used
	Truncated bool // more steps than maxSteps
}

// StepList is the steps recorded.
func (pt *PacketTrace) StepList() []Step { return pt.Steps[:pt.N] }

// FrameInfo is what a trace shows of a frame: its addresses and ports.
type FrameInfo struct {
	Len            int // Ethernet frame length
	SrcMAC, DstMAC header.MAC
	EtherType      uint16
	IPv4           bool
	Src, Dst       netip.Addr
	Proto          uint8
	SPort, DPort   uint16 // ICMP echo: the identifier in both
	ICMPType       uint8
	TTL            uint8
	ARPOp          uint16
}

// frameInfoOf reads the headers of buf (virtio_net_hdr + frame) as far as
// they are there; it never fails.
func frameInfoOf(buf []byte) (fi FrameInfo) {
	if len(buf) < header.VirtioNetHdrLen+header.EthernetLen {
		return
	}
	frame := buf[header.VirtioNetHdrLen:]
	eth := header.Ethernet(frame)
	fi.Len, fi.SrcMAC, fi.DstMAC, fi.EtherType = len(frame), eth.Src(), eth.Dst(), eth.Type()
	switch fi.EtherType {
	case header.EtherTypeARP:
		if op, _, sip, _, tip, ok := arp.ParseARP(frame); ok {
			fi.ARPOp, fi.Src, fi.Dst = op, sip, tip
		}
	case header.EtherTypeIPv6:
		frameInfo6(frame, &fi) // trace6.go
	case header.EtherTypeIPv4:
		ip := header.IPv4(frame[header.EthernetLen:])
		if !ip.Valid() {
			return
		}
		fi.IPv4, fi.Src, fi.Dst, fi.Proto, fi.TTL = true, ip.Src(), ip.Dst(), ip.Protocol(), ip.TTL()
		if ip.IsFragment() && ip.FragmentOffset() != 0 {
			return
		}
		l4 := ip[ip.HeaderLen():min(int(ip.TotalLen()), len(ip))]
		switch {
		case (fi.Proto == header.ProtoTCP || fi.Proto == header.ProtoUDP) && len(l4) >= 4:
			fi.SPort, fi.DPort = header.UDP(l4).SrcPort(), header.UDP(l4).DstPort()
		case fi.Proto == header.ProtoICMP && len(l4) >= header.ICMPv4MinLen:
			m := header.ICMPv4(l4)
			fi.ICMPType = m.Type()
			if m.Type() == header.Echo || m.Type() == header.EchoReply {
				fi.SPort, fi.DPort = m.ID(), m.ID()
			}
		}
	}
	return
}

// tracer collects the steps of the frame being traced on a worker.
type tracer struct {
	dryRun bool
	n      int
	over   bool
	steps  [maxSteps]Step
	before FrameInfo // live: the frame as it came, before decide rewrote it
}

// dry reports a dry run: the stages must look, not change. Safe on nil,
// so the fast path asks it with one compare.
func (t *tracer) dry() bool { return t != nil && t.dryRun }

func (t *tracer) add(s Step) {
	if t.n == len(t.steps) {
		t.over = true
		return
	}
	t.steps[t.n] = s
	t.n++
}

func (t *tracer) reset() { t.n, t.over = 0, false }

// finish closes a trace with the verdict: a drop no stage recorded (the
// checks without a hook of their own: a malformed header, a link-local
// destination, ...) gets a step of the stage that drops for that reason.
func (t *tracer) finish(v Verdict) {
	if v.Action != ActDrop {
		return
	}
	last := t.n - 1
	for last >= 0 && t.steps[last].Stage == StageICMP {
		last-- // the error the drop sent comes after the stage that dropped
	}
	if last >= 0 {
		st := t.steps[last]
		if st.Decision == "drop" && st.Reason == v.Reason {
			return
		}
		if st.Decision == "deny" && st.Stage == dropStage(v.Reason) {
			return // the ACL's deny is the drop, with the rule that denied
		}
	}
	t.add(Step{Stage: dropStage(v.Reason), Decision: "drop", Reason: v.Reason})
}

// dropStage is the stage that drops for reason r.
func dropStage(r DropReason) Stage {
	switch r {
	case DropMalformed:
		return StageFrame
	case DropBadSrcMAC, DropMACLimit:
		return StageLearn
	case DropSamePort, DropNoPort, DropNoDest, DropLinkLocal, DropNotOurs, DropTooBig, DropVLAN, DropUntagged:
		return StageL2
	case DropICC:
		return StageICC
	case DropACL:
		return StageACL
	case DropARPTableFull, DropARPQueueFull, DropARPFailed:
		return StageNeighbour
	case DropTTL:
		return StageTTL
	case DropNoRoute, DropNotRoutable:
		return StageRoute
	case DropIsolation, DropInternalNet:
		return StageIsolation
	case DropConntrackFull, DropNATPorts, DropCTInvalid, DropConnRate:
		return StageConntrack
	case DropFragNeeded, DropGSOTooBig:
		return StageMTU
	case DropLocal:
		return StageLocal
	case DropPoliced:
		return StagePolice
	case DropSpoof, DropStorm, DropRAGuard:
		return StageGuard
	case DropTxError:
		return StageEgress
	}
	return StageInternal
}

// Hooks the stages call, each behind `if w.tr != nil` (or through one of
// the wrappers below, which check it themselves).

func (w *worker) traceGuard(why DropReason, note string) {
	if why == DropNone {
		w.tr.add(Step{Stage: StageGuard, Decision: "pass"})
		return
	}
	w.tr.add(Step{Stage: StageGuard, Decision: "drop", Reason: why, Note: note})
}

// traceLearn is the FDB learning of decide, traced: in a dry run the table is only
// read, and a MAC limit is not foreseen (the table keeps its limit to
// itself); the trace says "would learn".
func (w *worker) traceLearn(net *Network, in *Port, src header.MAC, now int64) fdb.LearnResult {
	st := Step{Stage: StageLearn, MAC: src, Port: in.Index}
	if p, ok := net.FDB.Lookup(src.Uint64()); ok {
		st.Found = true
		st.Port = p
	}
	if w.tr.dry() {
		switch {
		case st.Found && st.Port == in.Index:
			st.Decision, st.Note = "known", "would refresh"
		case st.Found:
			st.Decision, st.Note = "move", "would move to this port"
			st.Port = in.Index
		default:
			st.Decision, st.Note = "new", "would learn"
			st.Port = in.Index
		}
		w.tr.add(st)
		return fdb.Known
	}
	r := net.FDB.Learn(src.Uint64(), in.Index, now)
	st.Port = in.Index
	switch r {
	case fdb.Learned:
		st.Decision = "learned"
	case fdb.Moved:
		st.Decision = "moved"
	case fdb.LimitExceeded:
		st.Decision, st.Reason = "drop", DropMACLimit
	default:
		st.Decision = "known"
	}
	w.tr.add(st)
	return r
}

func (w *worker) traceToRouter(net *Network) {
	w.tr.add(Step{Stage: StageL2, Decision: "to-router", Net: net.ID, MAC: net.L3.GatewayMAC})
}

// traceSwitch records switchL2's decision with the FDB entry it used.
func (w *worker) traceSwitch(net *Network, dst header.MAC, v Verdict) {
	st := Step{Stage: StageL2, MAC: dst, Net: net.ID}
	if !dst.IsMulticast() {
		st.Port, st.Found = net.FDB.Lookup(dst.Uint64())
	}
	switch v.Action {
	case ActForward:
		st.Decision = "forward"
	case ActFlood:
		st.Decision = "flood"
		switch {
		case dst.IsBroadcast():
			st.Note = "broadcast"
		case dst.IsMulticast():
			st.Note = "multicast"
		default:
			st.Note = "unknown unicast: not in the FDB"
		}
	default:
		st.Decision, st.Reason = "drop", v.Reason
	}
	w.tr.add(st)
}

func (w *worker) traceARP(op uint16, smac header.MAC, sip, tip netip.Addr, ours, learns bool) {
	st := Step{Stage: StageARP, MAC: smac, IP: sip, Found: learns}
	switch {
	case op == arp.OpRequest && ours:
		st.Decision, st.Note = "reply", "who-has the gateway: answered in place"
	case op == arp.OpReply:
		st.Decision, st.Note = "reply-in", "a reply to the gateway"
	default:
		st.Decision, st.Note = "switch", "not for the gateway"
	}
	if learns {
		if w.tr.dry() {
			st.Note += "; would learn the sender"
		} else {
			st.Note += "; sender learned"
		}
	}
	_ = tip
	w.tr.add(st)
}

// traceConntrack records what natPre found: a tracked flow, a published
// port (DNAT), or nothing yet.
func (w *worker) traceConntrack(f *flow, p *natPlan, now int64) {
	st := Step{Stage: StageConntrack, Conn: f.t}
	switch {
	case p.known && f.kind == flowL4:
		if c, _, ok := w.dp.ct.LookupAt(f.t, now); ok {
			st.Conn, st.Reply, st.CtState, st.Found = c.Orig, c.Reply, c.State(), true
		}
		st.Decision, st.Note = "hit", "a tracked flow: isolation and ACLs were passed at its start"
	case p.known && f.kind == flowICMPErr:
		st.Decision, st.Note = "related", "an ICMP error about a tracked flow"
	case p.known:
		st.Decision, st.Note = "related", "a fragment of a translated datagram"
	case f.kind == flowNone:
		st.Decision, st.Note = "untracked", "no ports the tracker can use"
	default:
		st.Decision = "new"
	}
	if p.published {
		st.Note = "for a published port"
	}
	w.tr.add(st)
}

func (w *worker) traceLocal(v Verdict) {
	if v.Action == ActDrop {
		return // finish says why
	}
	w.tr.add(Step{Stage: StageLocal, Decision: "echo-reply", Note: "a ping to vswitchd: answered in place"})
}

func (w *worker) traceRoute(r *routing.Route, ok bool, out *Network) {
	if !ok || out == nil {
		w.tr.add(Step{Stage: StageRoute, Decision: "drop", Reason: DropNoRoute})
		return
	}
	w.tr.add(Step{Stage: StageRoute, Decision: "hit", Route: *r, Found: true, Net: out.ID})
}

// traceIsolation records admit's isolation verdict between networks.
func (t *tracer) isolation(src, out *Network, why DropReason, published bool) {
	st := Step{Stage: StageIsolation, Net: out.ID, Decision: "pass"}
	switch {
	case why != DropNone:
		st.Decision, st.Reason = "drop", why
	case published:
		st.Note = "a published port is open to every network"
	case src.ID == out.ID:
		st.Note = "same network"
	case out.L3.Uplink:
		st.Note = "out by the uplink"
	case src.L3.Uplink:
		st.Note = "in from the uplink"
	default:
		st.Note = "networks connected"
	}
	t.add(st)
}

// aclDecide is the ACL's decision for a flow's first packet. A dry run
// counts no hit.
func (t *tracer) aclDecide(acl *policy.ACL, net uint16, src, dst netip.Addr, proto uint8, dport uint16) (policy.Action, *policy.Rule) {
	if t == nil {
		return acl.Decide(src, dst, proto, dport)
	}
	act, rule := acl.Default, (*policy.Rule)(nil)
	if t.dry() {
		rules := acl.Rules()
		for i := range rules {
			if rules[i].Matches(src, dst, proto, dport) {
				act, rule = rules[i].Action, &rules[i]
				break
			}
		}
	} else {
		act, rule = acl.Decide(src, dst, proto, dport)
	}
	st := Step{Stage: StageACL, Net: net, Action: act, Decision: act.String()}
	if rule != nil {
		st.Rule = rule.ID
	} else {
		st.Note = "the network's default"
	}
	t.add(st)
	return act, rule
}

func (w *worker) traceNAT(f *flow, p *natPlan) {
	st := Step{Stage: StageNAT, From: f.t, To: p.target, Decision: "rewrite"}
	switch {
	case p.target.Src != f.t.Src && p.target.Dst != f.t.Dst:
		st.Decision = "snat+dnat"
	case p.target.Src != f.t.Src || p.target.SPort != f.t.SPort && p.target.Dst == f.t.Dst:
		st.Decision = "snat"
	case p.target.Dst != f.t.Dst || p.target.DPort != f.t.DPort:
		st.Decision = "dnat"
	}
	switch {
	case p.known:
		st.Note = "as the conn says"
	case p.published:
		st.Note = "published port"
	}
	w.tr.add(st)
}

func (w *worker) traceICMP(typ, code uint8, sent bool) {
	st := Step{Stage: StageICMP, ICMPType: typ, ICMPCode: code, Decision: "sent"}
	switch {
	case w.tr.dry() && sent:
		st.Decision = "would-send"
	case !sent:
		st.Decision, st.Note = "not-sent", "not about this packet (RFC 1812 4.3.2.7) or over the rate limit"
	}
	w.tr.add(st)
}

func (w *worker) traceEmit(out *Network, forced uint16, mac header.MAC, v Verdict, frags bool) {
	st := Step{Stage: StageEgress, MAC: mac, Net: out.ID}
	switch {
	case forced != 0:
		st.Decision, st.Port, st.Note = "forward", forced, "the route's port"
	case v.Action == ActForward && out.L3.Uplink:
		st.Decision, st.Port, st.Note = "forward", v.Port, "the uplink"
	case v.Action == ActForward:
		st.Decision, st.Port, st.Found = "forward", v.Port, true
	case v.Action == ActFlood:
		st.Decision, st.Note = "flood", "the next hop's MAC is not in the FDB"
	default:
		st.Decision, st.Reason = "drop", v.Reason
	}
	if frags {
		st.Note = "cut into fragments that fit the MTU"
	}
	w.tr.add(st)
}

// Wrappers of the calls that change shared state: each does the call, or
// in a dry run only looks.

// track is nat.Table.Track; a dry run predicts its answer (false only for
// a new SYN on a finished TCP conn) without moving the conn's state.
func (w *worker) track(c *nat.Conn, d nat.Dir, flags uint8, now int64) bool {
	if w.tr.dry() {
		return wouldTrack(c, d, flags)
	}
	return w.dp.ct.Track(c, d, flags, now)
}

func wouldTrack(c *nat.Conn, d nat.Dir, flags uint8) bool {
	if c.Orig.Proto == header.ProtoTCP && d == nat.Original &&
		flags&(header.TCPFlagSYN|header.TCPFlagACK|header.TCPFlagRST) == header.TCPFlagSYN {
		st := c.State()
		return st != nat.TimeWait && st != nat.Close
	}
	return true
}

// create is nat.Table.Create. A dry run builds the conn it would make, with
// the reply tuple the table would pick when that one is free, and says so.
func (w *worker) create(orig nat.Tuple, rw nat.Rewrite, flags uint8, now int64) (*nat.Conn, error) {
	if w.tr != nil {
		return w.traceCreate(orig, rw, flags, now)
	}
	return w.dp.ct.Create(orig, rw, flags, now)
}

func (w *worker) traceCreate(orig nat.Tuple, rw nat.Rewrite, flags uint8, now int64) (*nat.Conn, error) {
	st := Step{Stage: StageConntrack, Conn: orig}
	var c *nat.Conn
	var err error
	if w.tr.dry() {
		c, err = w.predictConn(orig, rw, flags, now, &st)
	} else {
		c, err = w.dp.ct.Create(orig, rw, flags, now)
		st.Decision = "created"
	}
	switch {
	case err == nil:
		st.Conn, st.Reply, st.CtState, st.Found = c.Orig, c.Reply, c.State(), true
	case errors.Is(err, nat.ErrFull):
		st.Decision, st.Reason = "drop", DropConntrackFull
	case errors.Is(err, nat.ErrPortsExhausted):
		st.Decision, st.Reason = "drop", DropNATPorts
	default:
		st.Decision, st.Note = "none", err.Error()
	}
	w.tr.add(st)
	return c, err
}

func (w *worker) predictConn(orig nat.Tuple, rw nat.Rewrite, flags uint8, now int64, st *Step) (*nat.Conn, error) {
	ct := w.dp.ct
	if orig.Proto == header.ProtoTCP {
		f := flags & (header.TCPFlagSYN | header.TCPFlagACK | header.TCPFlagRST | header.TCPFlagFIN)
		if f&header.TCPFlagRST != 0 || f&(header.TCPFlagSYN|header.TCPFlagACK) == header.TCPFlagSYN|header.TCPFlagACK ||
			(f&header.TCPFlagSYN != 0 && f&header.TCPFlagFIN != 0) || f&(header.TCPFlagSYN|header.TCPFlagACK) == 0 {
			return nil, nat.ErrInvalid
		}
	} else if orig.Proto != header.ProtoUDP && orig.Proto != header.ProtoICMP {
		return nil, nat.ErrInvalid
	}
	if c, d, ok := ct.LookupAt(orig, now); ok && w.track(c, d, flags, now) {
		st.Decision, st.Note = "hit", "committed meanwhile by another worker"
		return c, nil
	}
	if ct.Len() >= ct.Max() {
		st.Note = "the table is full: an unassured conn would be evicted, if any"
	}
	tr := orig
	c := &nat.Conn{Orig: orig}
	if rw.DNAT {
		c.NAT |= nat.DNAT
		tr.Dst = rw.DstAddr
		if orig.Proto != header.ProtoICMP && rw.DstPort != 0 {
			tr.DPort = rw.DstPort
		}
	}
	if rw.SNAT {
		c.NAT |= nat.SNAT
		tr.Src = rw.SrcAddr
	}
	c.Reply = tr.Reverse()
	st.Decision = "would-create"
	if _, _, taken := ct.LookupAt(c.Reply, now); taken || c.Reply == orig {
		if !rw.SNAT {
			return nil, nat.ErrClash
		}
		st.Note = "its source port is taken: another from the NAT port range"
	}
	return c, nil
}

// connOK is the conn-rate check; a dry run takes no token.
func (w *worker) connOK(in *Port, now int64) bool {
	if w.tr.dry() {
		return connWouldPass(in, now)
	}
	return connAllowed(in, now)
}

func connWouldPass(in *Port, now int64) bool {
	return in == nil || in.guard == nil || in.guard.conn.peek(now)
}

// traceNeighbour is the ARP lookup of toNextHop, traced: it records the
// entry; a dry run reads it without marking a stale entry used (which
// would make the next Tick poll it).
func (w *worker) traceNeighbour(nh netip.Addr, now int64) (header.MAC, uint16, arp.State, bool) {
	st := Step{Stage: StageNeighbour, IP: nh}
	var mac header.MAC
	var p uint16
	state := arp.None
	if w.tr.dry() {
		for _, e := range w.dp.arp.Entries(now) {
			if e.IP == nh {
				mac, p, state, st.Queue = e.MAC, e.Port, e.State, e.Queued
				break
			}
		}
	} else {
		mac, p, state, _ = w.dp.arp.Lookup(nh)
	}
	st.MAC, st.Port, st.Neigh, st.Found = mac, p, state, state != arp.None
	switch {
	case state.Usable():
		st.Decision = "hit"
	case w.tr.dry():
		st.Decision, st.Note = "unresolved", "an ARP request would go out and the packet wait for the reply"
	default:
		st.Decision, st.Note = "unresolved", "ARP request sent, packet queued for the reply"
	}
	w.tr.add(st)
	return mac, p, state, state.Usable()
}

// wouldResolve is what arp.Table.Resolve would make toNextHop answer for
// a next hop without a usable entry: queued (consumed), or dropped when the
// entry's queue is full (Resolve drops the oldest and reports it) or the
// next hop is no unicast address. A full table is not foreseen: Resolve
// may reclaim an entry.
func (w *worker) wouldResolve(nh netip.Addr, now int64) Verdict {
	if !nh.Is4() || nh.IsUnspecified() || nh.IsMulticast() || nh == limitedBroadcast {
		return drop(DropNotRoutable)
	}
	for _, e := range w.dp.arp.Entries(now) {
		if e.IP == nh && e.State == arp.Incomplete && e.Queued >= w.dp.arp.Config().QueueLen {
			return drop(DropARPQueueFull)
		}
	}
	return Verdict{Action: ActConsumed}
}

// Dry runs.

// traceState is the Dataplane's part in tracing.
type traceState struct {
	mu   sync.Mutex // one dry run at a time: they share the trace worker
	dry  *worker
	live atomic.Pointer[LiveTrace]
}

// dryWorkerLocked is the worker dry runs use: never started, never polled,
// its queues never written.
func (dp *Dataplane) dryWorkerLocked() *worker {
	if w := dp.trace.dry; w != nil {
		return w
	}
	w := &worker{dp: dp, epfd: -1, wakefd: -1}
	w.out.nq = max(dp.opts.Workers, 1)
	w.scratch = make([]byte, genBufSize)
	w.gen = make([][]byte, 4) // an ICMP error or a few fragments; more are not made (cur is nil)
	for i := range w.gen {
		w.gen[i] = make([]byte, genBufSize)
	}
	dp.trace.dry = w
	return w
}

// Trace runs frame (an Ethernet frame, no virtio_net_hdr) through the
// pipeline as if it had arrived on port in, changing nothing, and returns
// every stage's step and the verdict.
func (dp *Dataplane) Trace(in uint16, frame []byte) (pt PacketTrace, err error) {
	s := dp.cfg.Load()
	p := s.port(in)
	if p == nil {
		return pt, fmt.Errorf("no port %d", in)
	}
	if p.trunk != nil {
		return pt, fmt.Errorf("port %s is a trunk: trace from a port of one of its VLAN networks", p.Name)
	}
	if len(frame) > port.BufSize-header.VirtioNetHdrLen {
		return pt, fmt.Errorf("frame of %d bytes is larger than a port buffer", len(frame))
	}
	buf := make([]byte, header.VirtioNetHdrLen+len(frame), port.BufSize)
	copy(buf[header.VirtioNetHdrLen:], frame)
	now := dp.opts.Now().UnixNano()

	dp.trace.mu.Lock()
	defer dp.trace.mu.Unlock()
	w := dp.dryWorkerLocked()
	t := &tracer{dryRun: true}
	w.tr = t
	pt = PacketTrace{In: in, Net: p.Net, Time: now, Before: frameInfoOf(buf)}
	defer func() {
		if r := recover(); r != nil {
			t.add(Step{Stage: StageInternal, Decision: "drop", Reason: DropInternal, Note: "a bug: please report it"})
			pt.Verdict = drop(DropInternal)
			pt.Steps, pt.N, pt.Truncated = t.steps, t.n, t.over
		}
		w.tr = nil
		for _, slot := range w.out.touched {
			w.out.q[slot].reset()
		}
		w.out.touched = w.out.touched[:0]
		w.ngen = 0
	}()
	var v Verdict
	if p.police != nil && !p.police.conforms(nanotime(), wireLen(buf)) {
		v = drop(DropPoliced) // as forwardBatch would, before the pipeline
	} else {
		v = w.decide(s, p, buf, now)
	}
	if v.Len > 0 {
		buf = buf[:v.Len]
	}
	t.finish(v)
	pt.Verdict, pt.After = v, frameInfoOf(buf)
	pt.Steps, pt.N, pt.Truncated = t.steps, t.n, t.over
	return pt, nil
}

// TraceSpec is a synthetic packet for a dry run.
type TraceSpec struct {
	SrcMAC, DstMAC header.MAC
	Src, Dst       netip.Addr
	Proto          uint8 // TCP (a SYN), UDP, or ICMP (an echo request); ICMPv6 (an echo request)
	SPort, DPort   uint16
	NS             bool // IPv6: a neighbour solicitation for Dst instead (trace6.go)
}

// BuildFrame makes the Ethernet frame of spec, checksums right, as a
// container's stack would send it: TTL 64, DF set, a TCP SYN or an echo
// request with the identifier SPort.
func BuildFrame(spec TraceSpec) ([]byte, error) {
	if spec.Src.Is6() || spec.Dst.Is6() {
		return buildFrame6(spec) // trace6.go
	}
	if !spec.Src.Is4() || !spec.Dst.Is4() {
		return nil, errors.New("trace needs IPv4 source and destination addresses")
	}
	var l4len int
	switch spec.Proto {
	case header.ProtoTCP:
		l4len = header.TCPMinLen
	case header.ProtoUDP:
		l4len = header.UDPLen + 4
	case header.ProtoICMP:
		l4len = header.ICMPv4MinLen + 4
	default:
		return nil, fmt.Errorf("protocol %d: trace builds tcp, udp or icmp", spec.Proto)
	}
	n := header.EthernetLen + header.IPv4MinLen + l4len
	f := make([]byte, max(n, header.EthernetLen+minEthPayload))
	eth := header.Ethernet(f)
	eth.SetDst(spec.DstMAC)
	eth.SetSrc(spec.SrcMAC)
	eth.SetType(header.EtherTypeIPv4)
	ip := header.IPv4(f[header.EthernetLen:])
	ip.SetHeaderLen(header.IPv4MinLen)
	ip.SetTotalLen(uint16(header.IPv4MinLen + l4len))
	ip.SetID(0x7472)
	ip.SetFlagsFragOffset(header.IPv4FlagDF, 0)
	ip.SetTTL(64)
	ip.SetProtocol(spec.Proto)
	ip.SetSrc(spec.Src)
	ip.SetDst(spec.Dst)
	ip.SetChecksum(ip.ComputeChecksum())
	l4 := ip[header.IPv4MinLen : header.IPv4MinLen+l4len]
	switch spec.Proto {
	case header.ProtoTCP:
		t := header.TCP(l4)
		t.SetSrcPort(spec.SPort)
		t.SetDstPort(spec.DPort)
		t.SetSeq(1)
		t.SetDataOffset(header.TCPMinLen)
		t.SetFlags(header.TCPFlagSYN)
		t.SetWindow(64240)
		t.SetChecksum(t.ComputeChecksum(spec.Src, spec.Dst))
	case header.ProtoUDP:
		u := header.UDP(l4)
		u.SetSrcPort(spec.SPort)
		u.SetDstPort(spec.DPort)
		u.SetLength(uint16(l4len))
		copy(u[header.UDPLen:], "tRcE")
		u.SetChecksum(u.ComputeChecksum(spec.Src, spec.Dst))
	case header.ProtoICMP:
		m := header.ICMPv4(l4)
		m.SetType(header.Echo)
		m.SetID(spec.SPort)
		m.SetSeq(1)
		copy(m[header.ICMPv4MinLen:], "tRcE")
		m.SetChecksum(m.ComputeChecksum())
	}
	return f, nil
}
