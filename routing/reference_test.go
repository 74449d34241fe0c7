package routing

import (
	"cmp"
	"net/netip"
	"slices"
)

// refTable is the slow reference for Table: every route in a slice sorted
// longest prefix first, scanned until one contains the address. It shares no
// code with Build beyond the documented rules (prefixes masked, invalid ones
// left out, the last of equal prefixes wins) and netip.Prefix.Contains, which
// matches an address only against prefixes of its own family (an IPv4-mapped
// IPv6 address is IPv6) and never matches an address with a zone: the two
// can only agree by both being right.
type refTable []Route

func buildRef(routes []Route) refTable {
	byPrefix := make(map[netip.Prefix]Route)
	for _, r := range routes {
		if !r.Prefix.IsValid() {
			continue
		}
		r.Prefix = r.Prefix.Masked()
		byPrefix[r.Prefix] = r
	}
	var t refTable
	for _, r := range byPrefix {
		t = append(t, r)
	}
	slices.SortFunc(t, func(x, y Route) int {
		return cmp.Compare(y.Prefix.Bits(), x.Prefix.Bits())
	})
	return t
}

func (t refTable) Lookup(dst netip.Addr) (*Route, bool) {
	for i := range t {
		if t[i].Prefix.Contains(dst) {
			return &t[i], true
		}
	}
	return nil, false
}
