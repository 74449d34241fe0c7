package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestDemo runs `make demo`'s script as a user would and checks what it
// claims to show: the pings and pages answer, host2 sees the uplink's
// address (masquerade), the published port answers, and every drop the
// counters print is explained by a live trace of that packet.
func TestDemo(t *testing.T) {
	if skipReason != "" {
		t.Skip(skipReason)
	}
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "scripts/demo.sh"))
	cmd.Env = append(os.Environ(), "VSWITCH_BIN="+filepath.Dir(vswitchdBin))
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		t.Fatalf("demo: %v; its output:\n%s", err, tail(buf.String(), 60))
	}
	out := buf.String()
	for _, want := range []string{
		"2 packets transmitted, 2 received",
		"through vswitchd",                           // the page from c2
		"host2 saw the request come from 10.0.12.15", // masquerade to the uplink address
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	if n := strings.Count(out, "hello from "); n < 3 {
		t.Errorf("the page came %d times, want 3 (c1, host2 and c3 through the published port)", n)
	}
	// Every reason in "Drops by reason" must come back as that many
	// traced drops (or more: the trace runs a moment longer).
	i := strings.Index(out, "Drops by reason:")
	j := strings.Index(out, "which packets those drops were")
	if j < 0 {
		t.Fatalf("the demo does not show which packets were dropped:\n%s", tail(out, 40))
	}
	traced := out[j:]
	if i >= 0 && i < j {
		row := regexp.MustCompile(`(?m)^([a-z-]+)\s+(\d+)\s+\S+=`)
		rows := row.FindAllStringSubmatch(out[i:j], -1)
		if len(rows) == 0 {
			t.Errorf("a drops table with no row read:\n%s", out[i:j])
		}
		for _, m := range rows {
			n, _ := strconv.Atoi(m[2])
			if got := strings.Count(traced, "Verdict: drop ("+m[1]+")"); got < n {
				t.Errorf("stats counted %d %s drops, the live trace shows %d", n, m[1], got)
			}
		}
	}
	if !strings.Contains(traced, "packets traced") {
		t.Errorf("the live trace did not end with its summary:\n%s", tail(traced, 20))
	}
}
