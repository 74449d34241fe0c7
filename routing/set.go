package routing

import (
	"fmt"
	"net/netip"
)

// Set is the control plane's editable route list: it checks each change and
// builds Table snapshots for the dataplane. The zero Set is empty and ready.
//
// A Set is not safe for concurrent use: the daemon edits it under the lock
// that serialises configuration changes and publishes Table() in the new
// config snapshot.
type Set struct {
	routes map[netip.Prefix]Route
	// table is the last snapshot built, kept until the next change so that
	// Routes and Table after a read-only request cost nothing.
	table *Table
}

// Add inserts r. It fails, leaving the Set unchanged, if r is malformed or if
// its prefix already has a route: routes are keyed by prefix alone, so
// changing one means Del then Add.
func (s *Set) Add(r Route) error {
	if err := r.check(); err != nil {
		return err
	}
	if old, ok := s.routes[r.Prefix]; ok {
		return fmt.Errorf("routing: %v already has a route (%v): delete it before adding another", r.Prefix, old)
	}
	if len(s.routes) >= MaxRoutes {
		return fmt.Errorf("routing: cannot add %v: the table is full (%d routes)", r.Prefix, MaxRoutes)
	}
	if s.routes == nil {
		s.routes = make(map[netip.Prefix]Route)
	}
	s.routes[r.Prefix] = r
	s.table = nil
	return nil
}

// Del removes the route for prefix p, which must be given exactly as listed
// by Routes.
func (s *Set) Del(p netip.Prefix) error {
	if _, ok := s.routes[p]; !ok {
		if p.IsValid() && p != p.Masked() {
			return fmt.Errorf("routing: no route for %v: it has host bits set, did you mean %v?", p, p.Masked())
		}
		return fmt.Errorf("routing: no route for %v: list the routes to see which exist", p)
	}
	delete(s.routes, p)
	s.table = nil
	return nil
}

// Get returns the route for prefix p.
func (s *Set) Get(p netip.Prefix) (Route, bool) {
	r, ok := s.routes[p]
	return r, ok
}

// Len is the number of routes.
func (s *Set) Len() int { return len(s.routes) }

// Routes lists the routes sorted by address, then prefix length (so a prefix
// comes before the ones nested in it), as `route ls` shows them.
func (s *Set) Routes() []Route { return s.Table().Routes() }

// Table returns a snapshot of the Set for the dataplane. It builds one only
// when the Set changed since the last call; the result is shared and
// immutable.
func (s *Set) Table() *Table {
	if s.table == nil {
		rs := make([]Route, 0, len(s.routes))
		for _, r := range s.routes {
			rs = append(rs, r)
		}
		s.table = Build(rs)
	}
	return s.table
}
