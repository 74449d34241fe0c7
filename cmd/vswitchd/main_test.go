package main

import (
	"bytes"
	"strings"
	"testing"
)

// Bad command lines end before anything starts: exit 2, one line on
// stderr naming the flag and what it wants.
func TestBadFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		says string
	}{
		{[]string{"--conntrack-max", "-1"}, "--conntrack-max: bad connection table size -1: want 1 to"},
		{[]string{"--conntrack-max", "0"}, "--conntrack-max: bad connection table size 0"},
		{[]string{"--conntrack-max", "100000000"}, "want 1 to 16777216"},
		{[]string{"--conntrack-max", "many"}, "invalid value \"many\" for flag -conntrack-max"},
		{[]string{"--nat-ports", "60000-50000"}, "--nat-ports: bad port range \"60000-50000\": want LOW-HIGH"},
		{[]string{"--nat-ports", "0-100"}, "bad port range"},
		{[]string{"--nat-ports", "1000-70000"}, "bad port range"},
		{[]string{"--nat-ports", "1000"}, "bad port range"},
		{[]string{"--nat-ports", ""}, "bad port range"},
		{[]string{"--nat-ports", "a-b"}, "bad port range"},
		{[]string{"--worker-nice", "30"}, "bad --worker-nice 30"},
		{[]string{"--dns-upstream", "dns.example"}, "--dns-upstream: bad DNS upstream \"dns.example\": want IP or IP:PORT"},
		{[]string{"--dns-upstream", "192.0.2.1,192.0.2.2:0"}, "bad DNS upstream \"192.0.2.2:0\""},
		{[]string{"--log-level", "loud"}, "bad --log-level"},
		{[]string{"--bogus"}, "flag provided but not defined"},
		{[]string{"extra"}, "unexpected argument"},
	} {
		var out, errb bytes.Buffer
		code := run(c.args, &out, &errb)
		stderr := errb.String()
		if code != 2 || out.Len() != 0 {
			t.Errorf("%q: exit %d, stdout %q; want exit 2 and nothing", c.args, code, out.String())
		}
		if !strings.HasPrefix(stderr, "vswitchd: ") || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, c.says) {
			t.Errorf("%q: stderr %q, want one line saying %q", c.args, stderr, c.says)
		}
	}
}

func TestHelpListsNATFlags(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"-h"}, &out, &errb); code != 0 {
		t.Fatalf("-h: exit %d", code)
	}
	for _, f := range []string{"-conntrack-max", "-nat-ports"} {
		if !strings.Contains(out.String(), f) {
			t.Errorf("-h does not list %s", f)
		}
	}
}
