package daemon

import (
	"bytes"
	"cmp"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"vswitch/api"
	"vswitch/header"
	"vswitch/nat"
)

// The connection table as `conntrack show` lists it, and `conntrack
// flush`. The table belongs to the dataplane and is safe to read while the
// workers use it, so these take no daemon lock: listing a million entries
// does not hold up other requests.

// protoNames are the names of the IP protocols the table tracks.
var protoNames = map[uint8]string{1: "icmp", 6: "tcp", 17: "udp"}

// Conntrack lists the tracked connections, of one protocol if proto is not
// empty, sorted by protocol and original tuple. The protocol order is by
// number: icmp, tcp, udp.
func (d *Daemon) Conntrack(proto string) ([]api.ConntrackEntry, error) {
	var want uint8
	if proto == "icmpv6" {
		want = header.ProtoICMPv6
	} else if proto != "" {
		var ok bool
		if want, ok = protoNumbers[proto]; !ok {
			return nil, badRequest("bad --proto %q: want tcp, udp, icmp or icmpv6 (or no --proto for all)", proto)
		}
	}
	entries := d.dp.Conntrack().Entries(d.opts.Now().UnixNano())
	if want != 0 {
		entries = slices.DeleteFunc(entries, func(e nat.Entry) bool { return e.Orig.Proto != want })
	}
	// Sorted on the raw tuples: at a million entries, comparing strings
	// would cost more than the listing.
	slices.SortFunc(entries, func(a, b nat.Entry) int {
		x, y := a.Orig, b.Orig
		return cmp.Or(cmp.Compare(x.Proto, y.Proto), bytes.Compare(x.Src[:], y.Src[:]), bytes.Compare(x.Dst[:], y.Dst[:]),
			cmp.Compare(x.SPort, y.SPort), cmp.Compare(x.DPort, y.DPort))
	})
	out := make([]api.ConntrackEntry, 0, len(entries))
	for _, e := range entries {
		name := protoNames[e.Orig.Proto]
		if name == "" {
			name = strconv.Itoa(int(e.Orig.Proto))
		}
		out = append(out, api.ConntrackEntry{Proto: name, Orig: tupleView(e.Orig), Reply: tupleView(e.Reply),
			State: e.State.String(), TimeoutS: int64(e.Timeout / time.Second)})
	}
	return append(out, d.conntrack6(want)...), nil
}

// conntrack6 lists the IPv6 conns (dataplane/nat6.go) after the IPv4 ones,
// in the same order; want 0 is every protocol (icmp: none, icmpv6 is its
// own name).
func (d *Daemon) conntrack6(want uint8) []api.ConntrackEntry {
	entries := d.dp.Conntrack6().Entries(d.opts.Now().UnixNano())
	if want != 0 {
		entries = slices.DeleteFunc(entries, func(e nat.Entry6) bool { return e.Orig.Proto != want })
	}
	slices.SortFunc(entries, func(a, b nat.Entry6) int {
		x, y := a.Orig, b.Orig
		return cmp.Or(cmp.Compare(x.Proto, y.Proto), bytes.Compare(x.Src[:], y.Src[:]), bytes.Compare(x.Dst[:], y.Dst[:]),
			cmp.Compare(x.SPort, y.SPort), cmp.Compare(x.DPort, y.DPort))
	})
	out := make([]api.ConntrackEntry, 0, len(entries))
	for _, e := range entries {
		out = append(out, api.ConntrackEntry{Proto: nat.ProtoName(e.Orig.Proto), Orig: tupleView6(e.Orig), Reply: tupleView6(e.Reply),
			State: e.State.String(), TimeoutS: int64(e.Timeout / time.Second)})
	}
	return out
}

func tupleView6(t nat.Tuple6) api.ConntrackTuple {
	return api.ConntrackTuple{Src: netip.AddrFrom16(t.Src).String(), Dst: netip.AddrFrom16(t.Dst).String(),
		SPort: int(t.SPort), DPort: int(t.DPort)}
}

func tupleView(t nat.Tuple) api.ConntrackTuple {
	return api.ConntrackTuple{Src: netip.AddrFrom4(t.Src).String(), Dst: netip.AddrFrom4(t.Dst).String(),
		SPort: int(t.SPort), DPort: int(t.DPort)}
}

// FlushConntrack empties the connection table: the next packet of every
// flow is new to the tracker again (masquerade then maps it to the same
// outside tuple when its port is free).
func (d *Daemon) FlushConntrack() api.ConntrackFlush {
	ct, ct6 := d.dp.Conntrack(), d.dp.Conntrack6()
	n := ct.Len() + ct6.Len()
	ct.Flush()
	ct6.Flush()
	return api.ConntrackFlush{Flushed: n}
}
