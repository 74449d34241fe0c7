package routing

import (
	"net/netip"
	"testing"
)

func TestLastAddr(t *testing.T) {
	for p, want := range map[string]string{
		"172.17.0.0/16": "172.17.255.255",
		"10.1.2.0/24":   "10.1.2.255",
		"10.1.2.8/30":   "10.1.2.11",
		"10.1.2.9/32":   "10.1.2.9",
		"0.0.0.0/0":     "255.255.255.255",
		"10.1.2.77/24":  "10.1.2.255", // host bits ignored
	} {
		if got := LastAddr(netip.MustParsePrefix(p)); got != netip.MustParseAddr(want) {
			t.Errorf("LastAddr(%s) = %s, want %s", p, got, want)
		}
	}
}
