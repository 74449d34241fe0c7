package policy

import (
	"errors"
	"net/netip"
	"slices"
	"sync/atomic"
)

// The protocols a rule names by number (the IANA protocol numbers, which
// IPv6's next header shares).
const (
	ProtoICMP   = 1
	ProtoTCP    = 6
	ProtoUDP    = 17
	ProtoICMPv6 = 58
)

// Action is what a rule, or an ACL's default, does with a flow.
type Action uint8

const (
	Allow Action = iota + 1
	Deny
)

func (a Action) String() string {
	switch a {
	case Allow:
		return "allow"
	case Deny:
		return "deny"
	}
	return "unknown"
}

// ParseAction reads "allow" or "deny".
func ParseAction(s string) (Action, bool) {
	switch s {
	case "allow":
		return Allow, true
	case "deny":
		return Deny, true
	}
	return 0, false
}

// Rule matches a flow by its first packet, IPv4 or IPv6. A zero field
// matches anything: an invalid prefix any address of either family, Proto 0
// any protocol, DPortMax 0 any port. A prefix matches addresses of its own
// family only, so a rule with an IPv4 prefix never matches an IPv6 packet
// (an IPv4-mapped source included) and the other way round; a rule without
// prefixes matches both.
type Rule struct {
	ID       int
	Action   Action
	Src, Dst netip.Prefix
	Proto    uint8 // 6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6; 0 any
	DPortMin uint16
	DPortMax uint16 // a port range needs TCP or UDP; 0: any port
	Priority int
	// Hits counts the flows the rule decided. Give every rebuild of a rule
	// the same counter (NewHits once, when the rule is added).
	Hits *atomic.Uint64
}

// Check reports a rule that could never match anything: prefixes of two
// families, ICMP with IPv6 prefixes or ICMPv6 with IPv4 ones (each family
// has its own ICMP), a port range on a protocol without ports.
func (r *Rule) Check() error {
	v4 := r.Src.IsValid() && r.Src.Addr().Is4() || r.Dst.IsValid() && r.Dst.Addr().Is4()
	v6 := r.Src.IsValid() && r.Src.Addr().Is6() || r.Dst.IsValid() && r.Dst.Addr().Is6()
	switch {
	case v4 && v6:
		return errors.New("the source and destination prefixes are of different families: a packet is IPv4 or IPv6")
	case r.Proto == ProtoICMP && v6:
		return errors.New("ICMP (IPv4's) with IPv6 prefixes: IPv6 has ICMPv6")
	case r.Proto == ProtoICMPv6 && v4:
		return errors.New("ICMPv6 with IPv4 prefixes: IPv4 has ICMP")
	case r.DPortMax != 0 && r.Proto != ProtoTCP && r.Proto != ProtoUDP:
		return errors.New("a port range needs TCP or UDP: only they have ports")
	case r.DPortMin > r.DPortMax:
		return errors.New("the port range is empty")
	}
	return nil
}

// NewHits returns a counter for a new rule.
func NewHits() *atomic.Uint64 { return new(atomic.Uint64) }

// Matches reports whether the rule covers a packet.
func (r *Rule) Matches(src, dst netip.Addr, proto uint8, dport uint16) bool {
	if r.Proto != 0 && r.Proto != proto {
		return false
	}
	if r.DPortMax != 0 && (dport < r.DPortMin || dport > r.DPortMax) {
		return false
	}
	if r.Src.IsValid() && !r.Src.Contains(src) {
		return false
	}
	if r.Dst.IsValid() && !r.Dst.Contains(dst) {
		return false
	}
	return true
}

// ACL is one network's rules. Build it with New; it is never changed after.
type ACL struct {
	rules   []Rule
	Default Action
}

// New sorts a copy of rules (priority, then ID) into an ACL. def 0 means
// Allow, Docker's behaviour for a network with no rules.
func New(def Action, rules []Rule) *ACL {
	if def == 0 {
		def = Allow
	}
	rs := slices.Clone(rules)
	slices.SortStableFunc(rs, func(a, b Rule) int {
		if a.Priority != b.Priority {
			return a.Priority - b.Priority
		}
		return a.ID - b.ID
	})
	for i := range rs {
		if rs[i].Hits == nil {
			rs[i].Hits = NewHits()
		}
	}
	return &ACL{rules: rs, Default: def}
}

// Empty reports an ACL that allows everything: no rules and default allow.
// The dataplane skips the check (and the tracking it needs) then.
func (a *ACL) Empty() bool { return a == nil || (len(a.rules) == 0 && a.Default != Deny) }

// Decide returns the action for a flow's first packet and the rule that
// matched (nil: the default), counting the hit. A nil ACL allows. It does
// not allocate: the workers call it per new flow.
func (a *ACL) Decide(src, dst netip.Addr, proto uint8, dport uint16) (Action, *Rule) {
	if a == nil {
		return Allow, nil
	}
	for i := range a.rules {
		r := &a.rules[i]
		if r.Matches(src, dst, proto, dport) {
			r.Hits.Add(1)
			return r.Action, r
		}
	}
	return a.Default, nil
}

// Rules returns the rules in the order they are tried.
func (a *ACL) Rules() []Rule {
	if a == nil {
		return nil
	}
	return a.rules
}
