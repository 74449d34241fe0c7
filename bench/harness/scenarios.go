package harness

import (
	"fmt"
	"strings"
	"time"

	"vswitch/bench/report"
)

// ParseScenarios reads --scenarios: scenario names and the groups
// `default` (the IPv4 ones, run when the flag is not given), `ipv6` (l2-v6,
// routed-v6) and `all`, comma-separated. The result is in table order
// (report.Scenarios), each once.
func ParseScenarios(s string) ([]string, error) {
	want := map[string]bool{}
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		switch {
		case f == "":
		case f == "default":
			for _, x := range report.DefaultScenarios {
				want[x] = true
			}
		case f == "ipv6":
			for _, x := range report.IPv6Scenarios {
				want[x] = true
			}
		case f == "all":
			for _, x := range report.Scenarios {
				want[x] = true
			}
		case contains(report.Scenarios, f):
			want[f] = true
		default:
			return nil, fmt.Errorf("unknown scenario %q (have %s, or default, ipv6, all)", f, strings.Join(report.Scenarios, ","))
		}
	}
	var out []string
	for _, x := range report.Scenarios {
		if want[x] {
			out = append(out, x)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no scenario in %q (have %s, or default, ipv6, all)", s, strings.Join(report.Scenarios, ","))
	}
	return out, nil
}

// ipv6Budget is the traffic time the IPv6 scenarios add per scenario,
// side and pair: tcp1, tcp4, rr and conn of a quick run take about 15 s
// with the servers' start and the ping before them.
const ipv6Budget = 20 * time.Second

// IPv6Budget is what the IPv6 scenarios of a run add to its default
// budget.
func IPv6Budget(scenarios []string, sides, pairs int) time.Duration {
	n := 0
	for _, s := range scenarios {
		if report.IsIPv6(s) {
			n++
		}
	}
	return ipv6Budget * time.Duration(n*sides*pairs)
}
