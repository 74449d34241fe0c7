package daemon

import (
	"net/netip"
	"testing"

	"vswitch/header"
	"vswitch/nat"
)

// The connection-table metrics count both tables, one series per family:
// an IPv6 masqueraded conn shows under family="ipv6" (and its NAT port
// under the uplink's IPv6 address), not under ipv4.
func TestMetricsConntrackFamilies(t *testing.T) {
	d := newTestDaemon(t, t.TempDir())
	now := d.opts.Now().UnixNano()
	up6 := netip.MustParseAddr("2001:db8:12::15")
	orig := nat.Tuple6{Src: netip.MustParseAddr("fd00:66::2").As16(), Dst: netip.MustParseAddr("2001:db8:99::80").As16(),
		SPort: 40000, DPort: 80, Proto: header.ProtoTCP}
	if _, err := d.dp.Conntrack6().Create(orig, nat.Rewrite6{SNAT: true, SrcAddr: up6.As16()}, header.TCPFlagSYN, now); err != nil {
		t.Fatal(err)
	}
	mfs, err := d.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	get := func(name string, labels ...string) (float64, bool) {
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
		next:
			for _, m := range mf.Metric {
				have := map[string]string{}
				for _, l := range m.Label {
					have[l.GetName()] = l.GetValue()
				}
				for i := 0; i+1 < len(labels); i += 2 {
					if have[labels[i]] != labels[i+1] {
						continue next
					}
				}
				if m.Gauge != nil {
					return m.Gauge.GetValue(), true
				}
				return m.Counter.GetValue(), true
			}
		}
		return 0, false
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"vswitch_conntrack_entries", []string{"family", "ipv6"}, 1},
		{"vswitch_conntrack_entries", []string{"family", "ipv4"}, 0},
		{"vswitch_conntrack_created_total", []string{"family", "ipv6"}, 1},
		{"vswitch_conntrack_created_total", []string{"family", "ipv4"}, 0},
		{"vswitch_conntrack_max", []string{"family", "ipv6"}, float64(d.dp.Conntrack6().Max())},
		{"vswitch_conntrack_refused_total", []string{"family", "ipv6", "reason", "full"}, 0},
		{"vswitch_nat_ports_in_use", []string{"proto", "tcp", "address", up6.String()}, 1},
	} {
		if v, ok := get(c.name, c.labels...); !ok || v != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, v, ok, c.want)
		}
	}
}
