package daemon

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"vswitch/api"
	"vswitch/policy"
)

// ACLs (`acl add`): per-network allow/deny rules for traffic delivered to
// the network's ports, IPv4 and IPv6 (a rule's prefixes give its family). The state keeps the rules; after every change the
// network's whole ACL is rebuilt (package policy) and handed to the
// dataplane, which swaps it in without stopping the workers.

// DefaultACLPriority is the priority of a rule added without --priority.
// Lower numbers are tried first; 100 leaves room on both sides.
const DefaultACLPriority = 100

// maxACLPriority bounds --priority.
const maxACLPriority = 65535

// AddACL adds a rule to a network's ACL.
func (d *Daemon) AddACL(req api.ACLAdd) (api.ACLRule, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	r, err := d.parseACLLocked(req)
	if err != nil {
		return api.ACLRule{}, err
	}
	n := d.nets[r.Network]
	for _, o := range d.st.ACLs {
		if sameMatch(o, r) {
			return api.ACLRule{}, conflict("rule %d of network %s matches the same traffic at the same priority (%s): 'acl rm %d' first or give another --priority",
				o.ID, o.Network, o.Action, o.ID)
		}
	}
	d.st.LastACLID++
	r.ID = d.st.LastACLID
	d.st.ACLs = append(d.st.ACLs, r)
	d.aclHits[r.ID] = policy.NewHits()
	d.syncACLLocked(n)
	if err := d.st.save(d.opts.StateDir); err != nil {
		d.st.ACLs = d.st.ACLs[:len(d.st.ACLs)-1]
		delete(d.aclHits, r.ID)
		d.syncACLLocked(n)
		return api.ACLRule{}, err
	}
	d.log.Info("ACL rule added", "id", r.ID, "network", r.Network, "action", r.Action, "priority", r.Priority)
	return d.aclViewLocked(r), nil
}

// parseACLLocked validates a rule; the result has no ID yet.
func (d *Daemon) parseACLLocked(req api.ACLAdd) (ACLState, error) {
	n, ok := d.nets[req.Network]
	if !ok {
		return ACLState{}, notFound("no network %s: 'vswitchctl network ls' lists them", req.Network)
	}
	if _, ok := policy.ParseAction(req.Action); !ok {
		return ACLState{}, badRequest("bad --action %q: want allow or deny", req.Action)
	}
	r := ACLState{Network: n.cfg.Name, Action: req.Action, Priority: DefaultACLPriority}
	var err error
	if r.Src, err = parseRulePrefix("--src", req.Src); err != nil {
		return r, err
	}
	if r.Dst, err = parseRulePrefix("--dst", req.Dst); err != nil {
		return r, err
	}
	if req.Proto == "icmp6" {
		req.Proto = "icmpv6" // as ip6tables spells it too
	}
	if _, ok := aclProtos[req.Proto]; req.Proto != "" && !ok {
		return r, badRequest("bad --proto %q: want tcp, udp, icmp or icmpv6 (or no --proto for any)", req.Proto)
	}
	r.Proto = req.Proto
	if req.DPort != "" {
		if r.Proto != "tcp" && r.Proto != "udp" {
			return r, badRequest("--dport %s needs --proto tcp or udp: only they have ports", req.DPort)
		}
		if r.DPortMin, r.DPortMax, err = parsePortRange(req.DPort); err != nil {
			return r, err
		}
	}
	if req.Priority != nil {
		if *req.Priority < 0 || *req.Priority > maxACLPriority {
			return r, badRequest("bad --priority %d: want 0 to %d, lower is tried first", *req.Priority, maxACLPriority)
		}
		r.Priority = *req.Priority
	}
	pr := policy.Rule{Src: r.Src, Dst: r.Dst, Proto: aclProtos[r.Proto], DPortMin: r.DPortMin, DPortMax: r.DPortMax}
	if err := pr.Check(); err != nil {
		return r, badRequest("the rule could never match: %v; give --src and --dst of one family, --proto icmp for IPv4 and icmpv6 for IPv6", err)
	}
	return r, nil
}

// aclProtos are the protocols --proto names: publish's, and ICMPv6, which
// IPv6 uses where IPv4 uses ICMP.
var aclProtos = map[string]uint8{"icmp": policy.ProtoICMP, "tcp": policy.ProtoTCP, "udp": policy.ProtoUDP, "icmpv6": policy.ProtoICMPv6}

// sameMatch reports two rules of one network that match the same traffic
// at the same priority: the later could never decide anything.
func sameMatch(a, b ACLState) bool {
	return a.Network == b.Network && a.Src == b.Src && a.Dst == b.Dst && a.Proto == b.Proto &&
		a.DPortMin == b.DPortMin && a.DPortMax == b.DPortMax && a.Priority == b.Priority
}

// parseRulePrefix reads --src/--dst: an IPv4 or IPv6 CIDR, or an address
// meaning /32 or /128.
func parseRulePrefix(flag, s string) (netip.Prefix, error) {
	if s == "" {
		return netip.Prefix{}, nil
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" && !a.Is4In6() {
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil || p.Addr().Is4In6() {
		return p, badRequest("bad %s %q: want a CIDR like 10.10.0.0/24 or fd00:1::/64, or an address", flag, s)
	}
	if p != p.Masked() {
		return p, badRequest("%s %s has host bits set: did you mean %s?", flag, p, p.Masked())
	}
	return p, nil
}

// parsePortRange reads --dport: N or N-M.
func parsePortRange(s string) (lo, hi uint16, err error) {
	bad := badRequest("bad --dport %q: want a port N or a range N-M, 1 to 65535 with N <= M", s)
	a, b, isRange := strings.Cut(s, "-")
	if !isRange {
		b = a
	}
	x, err1 := strconv.ParseUint(a, 10, 16)
	y, err2 := strconv.ParseUint(b, 10, 16)
	if err1 != nil || err2 != nil || x == 0 || y < x {
		return 0, 0, bad
	}
	return uint16(x), uint16(y), nil
}

func (d *Daemon) aclViewLocked(r ACLState) api.ACLRule {
	v := api.ACLRule{ID: r.ID, Network: r.Network, Action: r.Action, Proto: r.Proto, Priority: r.Priority}
	if r.Src.IsValid() {
		v.Src = r.Src.String()
	}
	if r.Dst.IsValid() {
		v.Dst = r.Dst.String()
	}
	switch {
	case r.DPortMax == 0:
	case r.DPortMin == r.DPortMax:
		v.DPort = strconv.Itoa(int(r.DPortMin))
	default:
		v.DPort = strconv.Itoa(int(r.DPortMin)) + "-" + strconv.Itoa(int(r.DPortMax))
	}
	if h := d.aclHits[r.ID]; h != nil {
		v.Hits = h.Load()
	}
	return v
}

// ACLs lists the rules, of one network if network is not empty, in the
// order they are tried: by network, then priority, then ID.
func (d *Daemon) ACLs(network string) ([]api.ACLRule, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.checkNetworkLocked(network); err != nil {
		return nil, err
	}
	order := map[string]int{}
	for i, n := range d.st.Networks {
		order[n.Name] = i
	}
	rules := slices.Clone(d.st.ACLs)
	slices.SortStableFunc(rules, func(a, b ACLState) int {
		if a.Network != b.Network {
			return order[a.Network] - order[b.Network]
		}
		if a.Priority != b.Priority {
			return a.Priority - b.Priority
		}
		return a.ID - b.ID
	})
	out := []api.ACLRule{}
	for _, r := range rules {
		if network == "" || r.Network == network {
			out = append(out, d.aclViewLocked(r))
		}
	}
	return out, nil
}

// RemoveACL removes a rule by its ID.
func (d *Daemon) RemoveACL(idStr string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	id, err := strconv.Atoi(idStr)
	if err != nil {
		return badRequest("bad rule ID %q: give the number 'vswitchctl acl ls' shows", idStr)
	}
	i := slices.IndexFunc(d.st.ACLs, func(r ACLState) bool { return r.ID == id })
	if i < 0 {
		return notFound("no ACL rule %d: 'vswitchctl acl ls' lists them", id)
	}
	r := d.st.ACLs[i]
	d.st.ACLs = slices.Delete(d.st.ACLs, i, i+1)
	delete(d.aclHits, id)
	if n, ok := d.nets[r.Network]; ok {
		d.syncACLLocked(n)
	}
	if err := d.st.save(d.opts.StateDir); err != nil {
		return err
	}
	d.log.Info("ACL rule removed", "id", id, "network", r.Network)
	return nil
}

// aclDefault reads a network's default action; empty (state files from
// before ACLs) is allow.
func aclDefault(n *NetworkState) policy.Action {
	if n.ACLDefault == "deny" {
		return policy.Deny
	}
	return policy.Allow
}

// syncACLLocked rebuilds network n's ACL and hands it to the dataplane;
// nil when it allows everything, so the dataplane neither checks nor
// tracks the network's traffic.
func (d *Daemon) syncACLLocked(n *netRT) {
	if n.id == 0 {
		return // not in the dataplane: it could not be restored
	}
	var rules []policy.Rule
	for _, r := range d.st.ACLs {
		if r.Network != n.cfg.Name {
			continue
		}
		act, _ := policy.ParseAction(r.Action)
		h := d.aclHits[r.ID]
		if h == nil {
			h = policy.NewHits()
			d.aclHits[r.ID] = h
		}
		rules = append(rules, policy.Rule{ID: r.ID, Action: act, Src: r.Src, Dst: r.Dst, Proto: aclProtos[r.Proto],
			DPortMin: r.DPortMin, DPortMax: r.DPortMax, Priority: r.Priority, Hits: h})
	}
	def := aclDefault(n.cfg)
	if len(rules) == 0 && def == policy.Allow {
		d.dp.SetACL(n.id, nil)
		return
	}
	d.dp.SetACL(n.id, policy.New(def, rules))
}

// hitsMap is the rules' hit counters by rule ID: made once per rule, so
// every rebuild of an ACL counts on the same counter.
type hitsMap = map[int]*atomic.Uint64
