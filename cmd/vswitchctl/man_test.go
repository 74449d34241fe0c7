package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestManPages writes the pages as the Debian package does and reads them
// as man(1) would: one page per command, each rendering without a groff
// warning, with the command's flags and its place in the tree.
func TestManPages(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("SOURCE_DATE_EPOCH", "1764720000") // 2025-12-03
	var out, errb bytes.Buffer
	if code := run([]string{"man", dir}, &out, &errb); code != exitOK {
		t.Fatalf("vswitchctl man: exit %d: %s", code, errb.String())
	}
	var cmds []*cobra.Command
	walkCommands(newRootCmd(&app{}), func(c *cobra.Command) { cmds = append(cmds, c) })
	files, _ := filepath.Glob(filepath.Join(dir, "*.1"))
	if len(files) != len(cmds) || !strings.Contains(out.String(), "wrote ") {
		t.Fatalf("%d pages for %d commands; said %q", len(files), len(cmds), out.String())
	}
	render := func(name string) string {
		t.Helper()
		cmd := exec.Command("groff", "-man", "-Tutf8", "-ww", "-P-c", "-P-b", "-P-u", filepath.Join(dir, name))
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		if err := cmd.Run(); err != nil || e.Len() > 0 {
			t.Errorf("groff %s: %v: %s", name, err, e.String())
		}
		return strings.Join(strings.Fields(o.String()), " ")
	}
	for _, f := range files {
		render(filepath.Base(f))
	}
	page := render("vswitchctl-port-add.1")
	for _, want := range []string{"vswitchctl-port-add - Create a TAP", "vswitchctl port add NETWORK --netns NS", "--ip6 IP6", "--netns NETNS", "GLOBAL OPTIONS", "-o, --output OUTPUT", "vswitchctl-port(1)", "2025-12-03"} {
		if !strings.Contains(page, want) {
			t.Errorf("vswitchctl-port-add page lacks %q:\n%s", want, page)
		}
	}
	top := render("vswitchctl.1")
	for _, c := range newRootCmd(&app{}).Commands() {
		if !c.Hidden && c.Name() != "help" && !strings.Contains(top, "vswitchctl-"+c.Name()+"(1)") {
			t.Errorf("vswitchctl(1) does not list %s", c.Name())
		}
	}
	// A bad SOURCE_DATE_EPOCH is a usage error, one line.
	t.Setenv("SOURCE_DATE_EPOCH", "yesterday")
	errb.Reset()
	if code := run([]string{"man", t.TempDir()}, &out, &errb); code != exitUsage || strings.Count(errb.String(), "\n") != 1 {
		t.Errorf("bad SOURCE_DATE_EPOCH: exit %d, %q", code, errb.String())
	}
	// A directory that cannot be made is an operation error.
	f := filepath.Join(t.TempDir(), "file")
	os.WriteFile(f, nil, 0o644)
	t.Setenv("SOURCE_DATE_EPOCH", "")
	errb.Reset()
	if code := run([]string{"man", filepath.Join(f, "sub")}, &out, &errb); code != exitFailed || !strings.Contains(errb.String(), "cannot create") {
		t.Errorf("man into a file's path: exit %d, %q", code, errb.String())
	}
}
