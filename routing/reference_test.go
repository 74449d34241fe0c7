package routing

import (
	"cmp"
	"net/netip"
	"slices"
)

// refTable is the slow reference for Table: every route in a slice sorted
// longest prefix first, scanned until one contains the address. It shares no
// code with Build beyond the documented rules (IPv4 only, prefixes masked, the
// last of equal prefixes wins), so the two can only agree by both being right.
type refTable []Route

func buildRef(routes []Route) refTable {
	byPrefix := make(map[netip.Prefix]Route)
	for _, r := range routes {
		if !r.Prefix.IsValid() || !r.Prefix.Addr().Is4() {
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
	if !dst.Is4() {
		return nil, false
	}
	for i := range t {
		if t[i].Prefix.Contains(dst) {
			return &t[i], true
		}
	}
	return nil, false
}
