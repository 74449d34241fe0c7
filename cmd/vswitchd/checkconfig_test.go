package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// --check-config FILE says whether the file would be accepted at start,
// and for a bad one names the line; it starts nothing (no socket, no
// state dir is touched: the flags that would say where are not given).
func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", "conntrack_max: 1000\nnetworks:\n  - name: web\n    subnet: 10.10.0.0/24\nports:\n  - network: web\n    netns: c1\n")
	for _, c := range []struct {
		path      string
		code      int
		out, says string
	}{
		{good, 0, "is valid: 1 networks, 1 ports", ""},
		{write("empty.yaml", ""), 0, "is valid: 0 networks", ""},
		{write("host.yaml", "networks:\n  - name: web\n\n    subnet: 10.10.0.1/24\n"), 1, "", "line 4: networks[0].subnet: subnet 10.10.0.1/24 has host bits set"},
		{write("key.yaml", "networks:\n  - name: web\n    colour: blue\n"), 1, "", `line 3: unknown field "colour"`},
		{write("nat.yaml", "nat_ports: 9-1\n"), 1, "", "line 1: nat_ports: bad port range"},
		{filepath.Join(dir, "missing.yaml"), 1, "", "cannot read config"},
	} {
		var out, errb bytes.Buffer
		code := run([]string{"--check-config", c.path}, &out, &errb)
		if code != c.code {
			t.Errorf("%s: exit %d, want %d (stderr %q)", c.path, code, c.code, errb.String())
		}
		if c.code == 0 && (!strings.Contains(out.String(), c.out) || errb.Len() != 0) {
			t.Errorf("%s: stdout %q stderr %q, want %q", c.path, out.String(), errb.String(), c.out)
		}
		if c.code != 0 {
			s := errb.String()
			if out.Len() != 0 || !strings.HasPrefix(s, "vswitchd: ") || strings.Count(s, "\n") != 1 || !strings.Contains(s, c.says) {
				t.Errorf("%s: stderr %q, want one line saying %q", c.path, s, c.says)
			}
		}
	}
}
