package main

import (
	"bytes"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// helpFlags is every flag vswitchd -h lists.
func helpFlags(t *testing.T) []string {
	t.Helper()
	var out, errb bytes.Buffer
	if code := run([]string{"-h"}, &out, &errb); code != 0 {
		t.Fatalf("vswitchd -h: exit %d: %s", code, errb.String())
	}
	var flags []string
	for _, m := range regexp.MustCompile(`(?m)^  -([a-z0-9-]+)`).FindAllStringSubmatch(out.String(), -1) {
		flags = append(flags, m[1])
	}
	if len(flags) < 15 {
		t.Fatalf("-h listed %d flags: %s", len(flags), out.String())
	}
	return flags
}

// TestManPage renders vswitchd --man as man(1) would: no groff warning,
// and every flag of -h is on the page with its argument.
func TestManPage(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "1764720000")
	var out, errb bytes.Buffer
	if code := run([]string{"--man"}, &out, &errb); code != 0 {
		t.Fatalf("vswitchd --man: exit %d: %s", code, errb.String())
	}
	cmd := exec.Command("groff", "-man", "-Tutf8", "-ww", "-P-c", "-P-b", "-P-u")
	cmd.Stdin = &out
	var page, gerr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &page, &gerr
	if err := cmd.Run(); err != nil || gerr.Len() > 0 {
		t.Fatalf("groff: %v: %s", err, gerr.String())
	}
	text := strings.Join(strings.Fields(page.String()), " ")
	for _, f := range helpFlags(t) {
		want := "--" + f
		if a := flagArgs[f]; a != "" {
			want += " " + a
		}
		if !strings.Contains(text, want) {
			t.Errorf("vswitchd(8) lacks %q", want)
		}
	}
	for _, want := range []string{"VSWITCHD(8)", "SIGHUP", "state.json", "vswitchctl(1)", "2025-12-03"} {
		if !strings.Contains(text, want) {
			t.Errorf("vswitchd(8) lacks %q", want)
		}
	}
}

// TestFlagsDocumented: every flag -h lists has its row in docs/cli.md's
// vswitchd section, so the reference and the binary agree.
func TestFlagsDocumented(t *testing.T) {
	b, err := os.ReadFile("../../docs/cli.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i, j := strings.Index(doc, "\n## vswitchd\n"), strings.Index(doc, "\n## vswitchctl\n")
	if i < 0 || j < i {
		t.Fatal("docs/cli.md has no '## vswitchd' section before '## vswitchctl'")
	}
	sec := doc[i:j]
	for _, f := range helpFlags(t) {
		if !strings.Contains(sec, "| `--"+f) {
			t.Errorf("docs/cli.md's vswitchd table has no row for --%s", f)
		}
	}
}
