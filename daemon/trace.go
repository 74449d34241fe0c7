package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"vswitch/api"
	"vswitch/arp"
	"vswitch/dataplane"
	"vswitch/header"
	"vswitch/nat"
)

// `vswitchctl trace`: the daemon picks the synthetic packet's defaults from
// the port, asks the dataplane to run it (or to follow real packets), and
// words each step with the names a user knows (ports, networks, ages).

// Trace runs a synthetic packet through the pipeline, changing nothing.
func (d *Daemon) Trace(req api.TraceRequest) (api.Trace, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	idx, spec, err := d.traceSpecLocked(req)
	if err != nil {
		return api.Trace{}, err
	}
	frame, err := dataplane.BuildFrame(spec)
	if err != nil {
		return api.Trace{}, badRequest("%v", err)
	}
	pt, err := d.dp.Trace(idx, frame)
	if err != nil {
		return api.Trace{}, badRequest("%v: is port %s up? ('vswitchctl port ls')", err, req.In)
	}
	t := d.renderTraceLocked(&pt)
	t.Time = "" // a dry run's packet has no arrival time
	return t, nil
}

// traceInLocked finds a port or uplink by name: its index, MAC, address and
// network.
func (d *Daemon) traceInLocked(name string) (idx uint16, mac header.MAC, ip netip.Prefix, netName string, uplink *uplinkRT, err error) {
	if p, ok := d.ports[name]; ok {
		if p.io == nil {
			return 0, mac, ip, "", nil, badRequest("port %s is down (%s): nothing to trace through it", name, p.err)
		}
		mac, _ = header.ParseMAC(p.cfg.MAC)
		return p.idx, mac, p.cfg.IP, p.cfg.Network, nil, nil
	}
	if u, ok := d.uplinks[name]; ok {
		if u.io == nil {
			return 0, mac, ip, "", nil, badRequest("uplink %s is down (%s): nothing to trace through it", name, u.err)
		}
		mac, _ = header.ParseMAC(u.cfg.MAC)
		return u.idx, mac, u.cfg.IP, "", u, nil
	}
	if name == "" {
		return 0, mac, ip, "", nil, badRequest("no ingress port: give --in PORT ('vswitchctl port ls' lists them)")
	}
	return 0, mac, ip, "", nil, badRequest("no port %s: give --in one of 'vswitchctl port ls'", name)
}

func parseTraceAddr(flag, s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return netip.Addr{}, badRequest("bad --%s %q: want an IPv4 address like 10.0.0.3", flag, s)
	}
	return a, nil
}

// parseLiveAddr is parseTraceAddr for a live trace's filter, which
// follows IPv6 frames too.
func parseLiveAddr(flag, s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Is4In6() || a.Zone() != "" {
		return netip.Addr{}, badRequest("bad --%s %q: want an IPv4 or IPv6 address like 10.0.0.3 or fd00:1::3", flag, s)
	}
	return a, nil
}

func parseTraceProto(s string, dport int) (uint8, error) {
	if s == "" {
		if dport != 0 {
			return header.ProtoTCP, nil
		}
		return header.ProtoICMP, nil
	}
	p, ok := protoNumbers[s]
	if !ok {
		return 0, badRequest("bad --proto %q: want tcp, udp or icmp", s)
	}
	return p, nil
}

func checkTracePort(flag string, n int) error {
	if n < 0 || n > 65535 {
		return badRequest("bad --%s %d: want a port number 1-65535", flag, n)
	}
	return nil
}

// traceSpecLocked fills the synthetic packet: what the request gives, and
// for the rest what the container behind the port would send.
func (d *Daemon) traceSpecLocked(req api.TraceRequest) (uint16, dataplane.TraceSpec, error) {
	var spec dataplane.TraceSpec
	idx, mac, ip, netName, uplink, err := d.traceInLocked(req.In)
	if err != nil {
		return 0, spec, err
	}
	if req.Dst == "" {
		return 0, spec, badRequest("no destination: give --dst IP")
	}
	if a, err := netip.ParseAddr(req.Dst); err == nil && a.Is6() && !a.Is4In6() {
		if uplink != nil {
			return 0, spec, badRequest("uplink %s has no IPv6: trace an IPv6 packet from a port of a network made with --ipv6", req.In)
		}
		spec, err = d.traceSpec6Locked(req, mac, netName, a) // ipv6.go
		return idx, spec, err
	}
	if spec.Dst, err = parseTraceAddr("dst", req.Dst); err != nil {
		return 0, spec, err
	}
	if spec.Proto, err = parseTraceProto(req.Proto, req.DPort); err != nil {
		return 0, spec, err
	}
	if err := cmpOr(checkTracePort("sport", req.SPort), checkTracePort("dport", req.DPort)); err != nil {
		return 0, spec, err
	}
	spec.SPort, spec.DPort = uint16(req.SPort), uint16(req.DPort)
	switch {
	case spec.Proto == header.ProtoICMP && spec.SPort == 0:
		spec.SPort = 1 // the echo identifier
	case spec.Proto != header.ProtoICMP && spec.DPort == 0:
		return 0, spec, badRequest("no destination port: give --dport N for %s", req.Proto)
	case spec.Proto != header.ProtoICMP && spec.SPort == 0:
		spec.SPort = 40000
	}

	switch {
	case req.Src != "":
		if spec.Src, err = parseTraceAddr("src", req.Src); err != nil {
			return 0, spec, err
		}
	case uplink != nil && uplink.cfg.Gateway.IsValid():
		spec.Src = uplink.cfg.Gateway
	case uplink != nil:
		return 0, spec, badRequest("no source address: a packet in on uplink %s comes from outside: give --src IP", req.In)
	case ip.IsValid():
		spec.Src = ip.Addr()
	default:
		return 0, spec, badRequest("port %s has no address: give --src IP", req.In)
	}

	if req.SrcMAC != "" {
		if spec.SrcMAC, err = header.ParseMAC(req.SrcMAC); err != nil {
			return 0, spec, badRequest("bad --src-mac %q: want a MAC like 02:42:ac:11:00:02", req.SrcMAC)
		}
	} else if uplink != nil {
		// The uplink's neighbour that sent it: its gateway when known.
		spec.SrcMAC = header.MAC{0x02, 0, 0, 0, 0, 0x01}
		if m, ok := d.neighbourMAC(spec.Src); ok {
			spec.SrcMAC = m
		}
	} else {
		spec.SrcMAC = mac
	}

	if req.DstMAC != "" {
		if spec.DstMAC, err = header.ParseMAC(req.DstMAC); err != nil {
			return 0, spec, badRequest("bad --dst-mac %q: want a MAC like 02:42:ac:11:00:03", req.DstMAC)
		}
	} else if uplink != nil {
		spec.DstMAC = mac // vswitchd's own on the uplink
	} else {
		spec.DstMAC = d.nextHopMACLocked(netName, spec.Dst)
	}
	return idx, spec, nil
}

func cmpOr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// nextHopMACLocked is the MAC a container of network netName sends a packet
// for dst to: its gateway's for an address off the subnet (or the gateway
// itself), else the station's, known from the ports vswitchd made or the
// neighbour table; broadcast when nothing knows it (the container would
// ARP first, and the trace shows the flood).
func (d *Daemon) nextHopMACLocked(netName string, dst netip.Addr) header.MAC {
	n := d.nets[netName]
	if n == nil {
		return header.BroadcastMAC
	}
	gw, _ := header.ParseMAC(n.cfg.GatewayMAC)
	if n.cfg.Gateway.IsValid() && (dst == n.cfg.Gateway || !n.cfg.Subnet.Contains(dst)) {
		return gw
	}
	for _, p := range d.st.Ports {
		if p.Network == netName && p.IP.IsValid() && p.IP.Addr() == dst {
			if m, err := header.ParseMAC(p.MAC); err == nil {
				return m
			}
		}
	}
	if m, ok := d.neighbourMAC(dst); ok {
		return m
	}
	return header.BroadcastMAC
}

// neighbourMAC reads the neighbour table without using the entry (Lookup
// would mark a stale one for a poll).
func (d *Daemon) neighbourMAC(ip netip.Addr) (header.MAC, bool) {
	for _, e := range d.dp.ARP().Entries(time.Now().UnixNano()) {
		if e.IP == ip && !e.MAC.IsZero() {
			return e.MAC, true
		}
	}
	return header.MAC{}, false
}

// traceNames are the names a trace is worded with.
type traceNames struct {
	ports map[uint16]string
	nets  map[uint16]string
	now   int64
}

func (d *Daemon) traceNamesLocked() traceNames {
	tn := traceNames{ports: d.portNamesLocked(), nets: map[uint16]string{}, now: time.Now().UnixNano()}
	for _, n := range d.nets {
		tn.nets[n.id] = n.cfg.Name
	}
	for _, u := range d.uplinks {
		tn.nets[u.netID] = u.cfg.Name
		if !strings.HasPrefix(u.cfg.Name, "uplink") {
			tn.nets[u.netID] = "uplink " + u.cfg.Name
		}
	}
	return tn
}

func (tn traceNames) port(i uint16) string {
	if n, ok := tn.ports[i]; ok {
		return n
	}
	return fmt.Sprintf("port-%d", i)
}

func (tn traceNames) net(i uint16) string {
	if n, ok := tn.nets[i]; ok {
		return n
	}
	return fmt.Sprintf("network-%d", i)
}

func traceTuple(t nat.Tuple) api.ConntrackTuple {
	return api.ConntrackTuple{Src: netip.AddrFrom4(t.Src).String(), Dst: netip.AddrFrom4(t.Dst).String(), SPort: int(t.SPort), DPort: int(t.DPort)}
}

func tupleText(t nat.Tuple) string { return t.String() }

// conn6Stage fills a conntrack stage of an IPv6 flow as the IPv4 ones are:
// the conn's tuples as fields (api.TraceConn, the same keys) and the text.
func conn6Stage(s *api.TraceStage, st dataplane.Step) string {
	s.Conntrack = &api.TraceConn{New: st.Decision == "would-create" || st.Decision == "created",
		Proto: nat.ProtoName(st.Conn6.Proto), Orig: tupleView6(st.Conn6)}
	reply := tupleView6(st.Reply6)
	s.Conntrack.Reply = &reply
	if st.Decision != "would-create" {
		s.Conntrack.State = st.CtState.String()
	}
	text := fmt.Sprintf("%s, reply %s", st.Conn6, st.Reply6)
	if s.Conntrack.State != "" {
		text += ", " + s.Conntrack.State
	}
	return text
}

func frameView(fi dataplane.FrameInfo) api.TraceFrame {
	f := api.TraceFrame{SrcMAC: fi.SrcMAC.String(), DstMAC: fi.DstMAC.String(), Len: fi.Len}
	switch fi.EtherType {
	case header.EtherTypeIPv4:
		f.Type = "ipv4"
	case header.EtherTypeARP:
		f.Type = "arp"
		switch fi.ARPOp {
		case arp.OpRequest:
			f.ARP = "request"
		case arp.OpReply:
			f.ARP = "reply"
		}
	case 0x86dd:
		f.Type = "ipv6"
	default:
		f.Type = fmt.Sprintf("0x%04x", fi.EtherType)
	}
	if fi.Src.IsValid() {
		f.Src, f.Dst = fi.Src.String(), fi.Dst.String()
	}
	if fi.EtherType == header.EtherTypeIPv6 && fi.Src.IsValid() {
		ipv6FrameView(fi, &f) // ipv6.go
	}
	if fi.IPv4 {
		f.Proto, f.TTL = nat.ProtoName(fi.Proto), int(fi.TTL)
		switch fi.Proto {
		case header.ProtoTCP, header.ProtoUDP:
			f.SPort, f.DPort = int(fi.SPort), int(fi.DPort)
		case header.ProtoICMP:
			switch fi.ICMPType {
			case header.Echo:
				f.ICMP = fmt.Sprintf("echo-request id %d", fi.SPort)
			case header.EchoReply:
				f.ICMP = fmt.Sprintf("echo-reply id %d", fi.SPort)
			default:
				f.ICMP = fmt.Sprintf("type %d", fi.ICMPType)
			}
		}
	}
	return f
}

// fdbView is the FDB entry for mac in network netID, with its age.
func (d *Daemon) fdbView(tn traceNames, netID uint16, mac header.MAC) *api.TraceFDB {
	t := d.dp.FDB(netID)
	if t == nil {
		return nil
	}
	for _, e := range t.Entries(tn.now) {
		if e.MAC == mac.Uint64() {
			return &api.TraceFDB{MAC: mac.String(), Port: tn.port(e.Port), AgeS: int64(e.Age / time.Second), Static: e.Static}
		}
	}
	return nil
}

func fdbText(f *api.TraceFDB) string {
	if f == nil {
		return "no FDB entry"
	}
	if f.Static {
		return fmt.Sprintf("FDB entry %s port %s static", f.MAC, f.Port)
	}
	return fmt.Sprintf("FDB entry %s port %s age %ds", f.MAC, f.Port, f.AgeS)
}

var icmpNames = map[[2]uint8]string{
	{header.DestUnreachable, header.NetUnreachable}:  "destination unreachable (net unreachable)",
	{header.DestUnreachable, header.HostUnreachable}: "destination unreachable (host unreachable)",
	{header.DestUnreachable, header.FragNeeded}:      "destination unreachable (fragmentation needed)",
	{header.TimeExceeded, header.TTLExceeded}:        "time exceeded (TTL)",
}

// renderTraceLocked words a dataplane trace for the API.
func (d *Daemon) renderTraceLocked(pt *dataplane.PacketTrace) api.Trace {
	tn := d.traceNamesLocked()
	in := tn.port(pt.In)
	t := api.Trace{In: in, Network: tn.net(pt.Net), Frame: frameView(pt.Before), Truncated: pt.Truncated, Stages: []api.TraceStage{}}
	src := pt.Net
	for _, st := range pt.StepList() {
		s := api.TraceStage{Stage: st.Stage.String(), Decision: st.Decision, Note: st.Note}
		if st.Reason != dataplane.DropNone {
			s.Reason = st.Reason.String()
		}
		var text string
		switch st.Stage {
		case dataplane.StagePolice:
			text = "ingress policing of " + in + ": over its --rate"
		case dataplane.StageGuard:
			text = "port security and storm limit of " + in
		case dataplane.StageLearn:
			s.FDB = d.fdbView(tn, src, st.MAC)
			text = fmt.Sprintf("source %s on %s", st.MAC, in)
			if s.FDB != nil {
				text += " (" + fdbText(s.FDB) + ")"
			}
		case dataplane.StageL2:
			switch st.Decision {
			case "to-router":
				text = fmt.Sprintf("destination %s is the gateway of %s: to the router", st.MAC, tn.net(st.Net))
			case "flood":
				text = fmt.Sprintf("destination %s: flooded in %s", st.MAC, tn.net(st.Net))
			default:
				if st.Found {
					s.FDB = d.fdbView(tn, st.Net, st.MAC)
				}
				text = fmt.Sprintf("destination %s: %s", st.MAC, fdbText(s.FDB))
			}
		case dataplane.StageARP:
			text = fmt.Sprintf("from %s (%s)", st.IP, st.MAC)
		case dataplane.StageConntrack:
			if st.Conn6.Proto != 0 {
				text = conn6Stage(&s, st) // IPv6 (NAT66's conntrack)
			} else if st.Conn.Proto == 0 {
				// A step that names no IPv4 conn: its note says it all.
			} else if st.Found || st.Decision == "would-create" {
				s.Conntrack = &api.TraceConn{New: st.Decision == "would-create" || st.Decision == "created",
					Proto: nat.ProtoName(st.Conn.Proto), Orig: traceTuple(st.Conn)}
				reply := traceTuple(st.Reply)
				s.Conntrack.Reply = &reply
				if st.Decision != "would-create" {
					s.Conntrack.State = st.CtState.String()
				}
				text = fmt.Sprintf("%s, reply %s", tupleText(st.Conn), tupleText(st.Reply))
				if s.Conntrack.State != "" {
					text += ", " + s.Conntrack.State
				}
			} else {
				text = tupleText(st.Conn)
				if st.Decision == "new" {
					s.Conntrack = &api.TraceConn{New: true, Proto: nat.ProtoName(st.Conn.Proto), Orig: traceTuple(st.Conn)}
					text = "no conn for " + text
				}
			}
		case dataplane.StageRoute:
			if st.Found {
				r := st.Route
				s.Route = &api.Route{Prefix: r.Prefix.String(), Kind: r.Kind.String(), Port: tn.net(st.Net)}
				if r.Via.IsValid() {
					s.Route.Via = r.Via.String()
				}
				if r.Port != 0 {
					s.Route.Port = tn.port(r.Port)
				}
				text = fmt.Sprintf("route %s %s", s.Route.Prefix, s.Route.Kind)
				if s.Route.Via != "" {
					text += " via " + s.Route.Via
				}
				text += " on " + s.Route.Port
			} else {
				text = fmt.Sprintf("no route to %s", pt.Before.Dst)
			}
		case dataplane.StageIsolation:
			s.Isolation = &api.TraceIsolation{From: tn.net(src), To: tn.net(st.Net), Reason: s.Reason}
			text = fmt.Sprintf("%s -> %s", s.Isolation.From, s.Isolation.To)
			if st.Reason == dataplane.DropIsolation {
				text += fmt.Sprintf(": not connected ('vswitchctl network connect %s %s' would route them)", s.Isolation.From, s.Isolation.To)
			}
		case dataplane.StageACL:
			s.ACL = &api.TraceACL{Network: tn.net(st.Net), Rule: st.Rule, Action: st.Action.String()}
			if st.Rule != 0 {
				text = fmt.Sprintf("ACL of %s: rule %d %s", s.ACL.Network, st.Rule, s.ACL.Action)
			} else {
				text = fmt.Sprintf("ACL of %s: no rule matched, default %s", s.ACL.Network, s.ACL.Action)
			}
		case dataplane.StageNAT:
			s.NAT = &api.TraceNAT{Kind: st.Decision, From: traceTuple(st.From), To: traceTuple(st.To)}
			text = natText(st.From, st.To)
		case dataplane.StageNeighbour:
			if st.Found {
				s.ARP = &api.Neighbor{IP: st.IP.String(), State: st.Neigh.String(), Port: tn.net(st.Port)}
				if !st.MAC.IsZero() {
					s.ARP.MAC = st.MAC.String()
					if f := d.fdbView(tn, st.Port, st.MAC); f != nil {
						s.ARP.Port = f.Port
					}
				}
				kind := "ARP entry" // IPv6's are found by neighbour discovery, not ARP
				if st.IP.Is6() {
					kind = "neighbour entry"
				}
				text = fmt.Sprintf("%s %s", kind, s.ARP.IP)
				if s.ARP.MAC != "" {
					text += " " + s.ARP.MAC
				}
				text += " " + s.ARP.State + " on " + s.ARP.Port
				if st.Queue > 0 {
					text += fmt.Sprintf(", %d frames waiting", st.Queue)
				}
			} else {
				text = fmt.Sprintf("no ARP entry for %s", st.IP)
			}
		case dataplane.StageEgress:
			switch {
			case st.Decision == "flood":
				text = fmt.Sprintf("to %s on %s: flooded", st.MAC, tn.net(st.Net))
			case st.Found:
				s.FDB = d.fdbView(tn, st.Net, st.MAC)
				text = fmt.Sprintf("port %s (%s)", tn.port(st.Port), fdbText(s.FDB))
			default:
				text = "port " + tn.port(st.Port)
			}
		case dataplane.StageICMP:
			name := icmpNames[[2]uint8{st.ICMPType, st.ICMPCode}]
			kind := "ICMP"
			if pt.Before.EtherType == header.EtherTypeIPv6 {
				name, kind = icmp6Name(st.ICMPType, st.ICMPCode), "ICMPv6" // ipv6.go
			}
			if name == "" {
				name = fmt.Sprintf("type %d code %d", st.ICMPType, st.ICMPCode)
			}
			text = fmt.Sprintf("%s %s to %s", kind, name, pt.Before.Src)
		}
		if st.Note != "" {
			text = joinText(text, st.Note)
		}
		s.Text = text
		t.Stages = append(t.Stages, s)
	}
	t.Verdict = d.verdictLocked(tn, pt)
	if pt.Time != 0 {
		t.Time = time.Unix(0, pt.Time).UTC().Format("15:04:05.000000")
	}
	return t
}

// natText says what a rewrite changes: "source A:p -> B:q", "destination ...".
func natText(from, to nat.Tuple) string {
	ep := func(a [4]byte, p uint16) string {
		if from.Proto == header.ProtoICMP {
			return fmt.Sprintf("%s id %d", netip.AddrFrom4(a), p)
		}
		return fmt.Sprintf("%s:%d", netip.AddrFrom4(a), p)
	}
	var parts []string
	if from.Src != to.Src || from.SPort != to.SPort {
		parts = append(parts, "source "+ep(from.Src, from.SPort)+" -> "+ep(to.Src, to.SPort))
	}
	if from.Dst != to.Dst || (from.DPort != to.DPort && from.Proto != header.ProtoICMP) {
		parts = append(parts, "destination "+ep(from.Dst, from.DPort)+" -> "+ep(to.Dst, to.DPort))
	}
	if len(parts) == 0 {
		return "nothing to rewrite"
	}
	return nat.ProtoName(from.Proto) + " " + strings.Join(parts, ", ")
}

func joinText(a, b string) string {
	if a == "" {
		return b
	}
	return a + ": " + b
}

func (d *Daemon) verdictLocked(tn traceNames, pt *dataplane.PacketTrace) api.TraceVerdict {
	v := pt.Verdict
	after := frameView(pt.After)
	steps := pt.StepList()
	switch v.Action {
	case dataplane.ActDrop:
		return api.TraceVerdict{Action: "drop", Reason: v.Reason.String(), Text: "drop (" + v.Reason.String() + ")"}
	case dataplane.ActForward:
		p := tn.port(v.Port)
		return api.TraceVerdict{Action: "forward", Ports: []string{p}, SentAs: &after,
			Text: fmt.Sprintf("forward to %s as %s", p, after.String())}
	case dataplane.ActFlood:
		var ports []string
		for _, p := range d.st.Ports {
			rt := d.ports[p.Name]
			if rt != nil && rt.io != nil && rt.idx != pt.In && d.nets[p.Network] != nil && d.nets[p.Network].id == v.Port {
				ports = append(ports, p.Name)
			}
		}
		slices.Sort(ports)
		return api.TraceVerdict{Action: "forward", Ports: ports, SentAs: &after,
			Text: fmt.Sprintf("forward to %s (flooded in %s) as %s", strings.Join(ports, ", "), tn.net(v.Port), after.String())}
	}
	// Consumed: say by what.
	for i := len(steps) - 1; i >= 0; i-- {
		st := steps[i]
		switch {
		case st.Stage == dataplane.StageEgress && st.Decision == "forward":
			p := tn.port(st.Port)
			return api.TraceVerdict{Action: "forward", Ports: []string{p}, SentAs: &after,
				Text: fmt.Sprintf("forward to %s as fragments of %s", p, after.String())}
		case st.Stage == dataplane.StageNeighbour:
			what := "queued for ARP"
			if strings.Contains(st.Note, "would") {
				what = "would be queued for ARP"
			}
			return api.TraceVerdict{Action: "consumed", SentAs: &after,
				Text: fmt.Sprintf("consumed: %s of %s, then forwarded as %s", what, st.IP, after.String())}
		case st.Stage == dataplane.StageARP:
			return api.TraceVerdict{Action: "consumed", Text: "consumed by the router (an ARP reply to the gateway)"}
		case st.Stage == dataplane.StageLocal && (st.Decision == "neighbour-advert" || st.Decision == "router-advert"):
			return api.TraceVerdict{Action: "consumed", Ports: []string{tn.port(pt.In)},
				Text: fmt.Sprintf("consumed by the gateway: a %s sent back to %s", strings.ReplaceAll(st.Decision, "-", " ")+"isement", tn.port(pt.In))}
		}
	}
	return api.TraceVerdict{Action: "consumed", Text: "consumed by the router"}
}

func (d *Daemon) serveTrace(w http.ResponseWriter, r *http.Request) {
	var req api.TraceRequest
	if decode(w, r, &req) {
		answer(w, 200)(d.Trace(req))
	}
}

// Live traces.

// liveCountMax bounds --count: a live trace is for watching, not logging.
const liveCountMax = 10000

// liveBuffer is how many records may wait for the API stream; past it a
// worker drops the record and counts it, it never waits.
const liveBuffer = 256

func (d *Daemon) liveFilterLocked(req api.TraceLiveRequest) (dataplane.LiveFilter, int, error) {
	var f dataplane.LiveFilter
	var err error
	if req.Port != "" {
		if f.Port, _, _, _, _, err = d.traceInLocked(req.Port); err != nil {
			return f, 0, err
		}
	}
	if req.Src != "" {
		if f.Src, err = parseLiveAddr("src", req.Src); err != nil {
			return f, 0, err
		}
	}
	if req.Dst != "" {
		if f.Dst, err = parseLiveAddr("dst", req.Dst); err != nil {
			return f, 0, err
		}
	}
	if f.Src.IsValid() && f.Dst.IsValid() && f.Src.Is4() != f.Dst.Is4() {
		return f, 0, badRequest("--src %s and --dst %s are of different families: give two IPv4 or two IPv6 addresses", f.Src, f.Dst)
	}
	switch req.Proto {
	case "":
	case "icmpv6", "icmp6":
		f.Proto = header.ProtoICMPv6
	default:
		if f.Proto, err = parseTraceProto(req.Proto, 0); err != nil {
			return f, 0, badRequest("bad --proto %q: want tcp, udp, icmp or icmpv6", req.Proto)
		}
	}
	if req.DPort < 0 || req.DPort > 65535 {
		return f, 0, badRequest("bad --dport %d: want a port number 1-65535", req.DPort)
	}
	f.DPort = uint16(req.DPort)
	f.Drops = req.Drops
	n := req.Count
	switch {
	case n == 0:
		n = 10
	case n < 0 || n > liveCountMax:
		return f, 0, badRequest("bad --count %d: want 1 to %d packets", n, liveCountMax)
	}
	return f, n, nil
}

// serveTraceLive streams the traces of real packets as NDJSON, one
// api.TraceEvent per line, until --count packets or the client goes.
func (d *Daemon) serveTraceLive(w http.ResponseWriter, r *http.Request) {
	var req api.TraceLiveRequest
	if !decode(w, r, &req) {
		return
	}
	d.mu.Lock()
	f, count, err := d.liveFilterLocked(req)
	d.mu.Unlock()
	if err != nil {
		reply(w, errStatus(err), api.Error{Error: err.Error()})
		return
	}
	lt, err := d.dp.StartLive(f, liveBuffer)
	if errors.Is(err, dataplane.ErrLiveBusy) {
		reply(w, 409, api.Error{Error: "a live trace is already running: wait for it to end (or stop it with Ctrl-C) and try again"})
		return
	}
	if err != nil {
		reply(w, 500, api.Error{Error: err.Error()})
		return
	}
	defer lt.Stop()
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(200)
	fl, _ := w.(http.Flusher)
	if fl != nil {
		fl.Flush() // the client knows the trace is on before any packet
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	stopping := serverShutdown(r) // capture.go: a stream must not hold vswitchd's exit
	n := 0
	for n < count {
		select {
		case <-r.Context().Done():
			return
		case <-stopping:
			over := lt.Stop()
			enc.Encode(api.TraceEvent{End: &api.TraceEnd{Packets: n, Overflow: over, Why: "vswitchd is stopping"}, Overflow: over})
			return
		case pt := <-lt.C:
			d.mu.Lock()
			t := d.renderTraceLocked(&pt)
			d.mu.Unlock()
			if enc.Encode(api.TraceEvent{Trace: &t, Overflow: lt.Overflow()}) != nil {
				return
			}
			if fl != nil {
				fl.Flush()
			}
			n++
		}
	}
	over := lt.Stop()
	enc.Encode(api.TraceEvent{End: &api.TraceEnd{Packets: n, Overflow: over, Why: "count reached"}, Overflow: over})
}
