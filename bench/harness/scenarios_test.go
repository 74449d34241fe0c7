package harness

import (
	"strings"
	"testing"

	"vswitch/bench/report"
)

func TestParseScenarios(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
	}{
		{"l2", "l2"},
		{"default", "l2,routed,nat-out,publish-in"},
		{"ipv6", "l2-v6,routed-v6"},
		{"routed-v6,l2", "l2,routed-v6"}, // table order
		{"l2,l2-v6,ipv6", "l2,l2-v6,routed-v6"},
		{"default,ipv6", strings.Join(report.Scenarios, ",")},
		{"all", strings.Join(report.Scenarios, ",")},
		{" l2 , routed ", "l2,routed"},
	} {
		got, err := ParseScenarios(tc.in)
		if err != nil || strings.Join(got, ",") != tc.want {
			t.Errorf("ParseScenarios(%q) = %v, %v; want %s", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"l3", "", ",", "l2,v6"} {
		if got, err := ParseScenarios(bad); err == nil {
			t.Errorf("ParseScenarios(%q) = %v, want an error", bad, got)
		} else if !strings.Contains(err.Error(), "ipv6") {
			t.Errorf("error %q does not list the choices", err)
		}
	}
}

// The default set is IPv4 only: a plain `make bench-quick` is not made
// dual-stack or longer by the IPv6 variants.
func TestDefaultScenariosIPv4(t *testing.T) {
	for _, s := range report.DefaultScenarios {
		if report.IsIPv6(s) {
			t.Errorf("%s is in the default set", s)
		}
	}
	for _, s := range report.IPv6Scenarios {
		if !contains(report.Scenarios, s) {
			t.Errorf("%s is not in the table order", s)
		}
	}
	if IPv6Budget(report.DefaultScenarios, 3, 1) != 0 {
		t.Error("IPv4 scenarios add IPv6 budget")
	}
	if got := IPv6Budget([]string{"l2", "l2-v6", "routed-v6"}, 2, 3); got != 12*ipv6Budget {
		t.Errorf("IPv6Budget = %v, want %v", got, 12*ipv6Budget)
	}
}

// Each IPv6 scenario talks between the same roles as its IPv4 original,
// over the IPv6 addresses, and skips the IPv4-only UDP tests.
func TestIPv6Endpoints(t *testing.T) {
	for _, tc := range []struct{ v6, v4, dst, src string }{
		{"l2-v6", "l2", addr6C2, addr6C1},
		{"routed-v6", "routed", addr6C3, addr6C1},
	} {
		e, o := endpointFor(tc.v6), endpointFor(tc.v4)
		if e.client != o.client || e.server != o.server || e.dst != tc.dst || e.src != tc.src {
			t.Errorf("%s: %+v", tc.v6, e)
		}
		for _, test := range Tests {
			in := test.In(tc.v6)
			if want := test.Name == "tcp1" || test.Name == "tcp4" || test.Name == "rr" || test.Name == "conn"; in != want {
				t.Errorf("%s in %s: %v, want %v", test.Name, tc.v6, in, want)
			}
		}
	}
	if got := hostPort(addr6C2, 5201); got != "[fd00:201:1::3]:5201" {
		t.Errorf("hostPort = %s", got)
	}
	if v6Flag("l2-v6") != "-6=true" || v6Flag("l2") != "-6=false" {
		t.Error("v6Flag")
	}
}

func TestDockerRules6(t *testing.T) {
	r := dockerRules6()
	for _, want := range []string{
		":FORWARD DROP [0:0]",
		"-A FORWARD -o brA -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
		"-A FORWARD -i brB ! -o brB -j ACCEPT",
	} {
		if !strings.Contains(r, want+"\n") {
			t.Errorf("ip6tables rules lack %q", want)
		}
	}
	if strings.Contains(r, "MASQUERADE") || strings.Count(r, "COMMIT\n") != 1 {
		t.Error("want the filter table only, nothing masqueraded")
	}
}
