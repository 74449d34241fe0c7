package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The tutorials (docs/tutorials/NN-*.md) show real output of their scripts
// (NN-*.sh). TestTutorials runs each script and compares what it printed with
// the transcript on its page; docs/tutorials/README.md states the convention
// for page writers:
//
//   - On the page, a fenced block with no language whose first line starts
//     with "$ " is a transcript: "$ COMMAND" lines, each followed by the
//     command's output. Other blocks (```sh, ```json, ...) are not checked.
//   - The script prints each such command as "$ COMMAND" before running it
//     (docs/tutorials/lib.sh: ctl, nsx, ipn, say), and "== TITLE" at each step.
//   - Both sides become a list of commands with their output, the output's
//     trailing blank lines dropped; the script's lines before its first "$ "
//     and between a "== " line and the next "$ " are not part of it.
//   - Each line is normalised (normalizer below) and the two lists must be
//     equal, line for line.
//
// No counter is normalised. The scripts turn IPv6 off in every namespace,
// pin the MACs and count their pings, so packet, byte and drop counts, ACL
// hits and FDB contents are the same on every run; the kernel's own timers
// (ARP re-probes after about 15 s of reachable time, TCP keepalives) do not
// fire in a script this short. Only times, ages, identifiers the kernel
// picks, vswitchd's random MACs and how a TCP teardown ends vary.

// tline is one transcript line: its text and where it came from (the page's
// line number, or the output's).
type tline struct {
	text string
	line int
}

// pageTranscript returns the lines of the page's transcript blocks.
func pageTranscript(page string) []tline {
	var out []tline
	lines := strings.Split(page, "\n")
	for i := 0; i < len(lines); i++ {
		if !strings.HasPrefix(lines[i], "```") {
			continue
		}
		info := strings.TrimSpace(strings.TrimPrefix(lines[i], "```"))
		j := i + 1
		for j < len(lines) && !strings.HasPrefix(lines[j], "```") {
			j++
		}
		if info == "" && i+1 < j && strings.HasPrefix(lines[i+1], "$ ") {
			out = append(out, trimCommands(numbered(lines[i+1:j], i+2))...)
		}
		i = j
	}
	return out
}

// outputTranscript returns the "$ " commands of a script's output with their
// output.
func outputTranscript(output string) []tline {
	var out []tline
	in := false
	var cur []tline
	for i, l := range strings.Split(output, "\n") {
		switch {
		case strings.HasPrefix(l, "== "):
			in = false
		case strings.HasPrefix(l, "$ "):
			in = true
		}
		if in {
			cur = append(cur, tline{l, i + 1})
		}
	}
	out = append(out, trimCommands(cur)...)
	return out
}

func numbered(lines []string, first int) []tline {
	out := make([]tline, len(lines))
	for i, l := range lines {
		out[i] = tline{l, first + i}
	}
	return out
}

// trimCommands drops the blank lines at the end of each command's output.
func trimCommands(lines []tline) []tline {
	var out []tline
	flush := func(from int) {
		for len(out) > from && strings.TrimSpace(out[len(out)-1].text) == "" {
			out = out[:len(out)-1]
		}
	}
	start := 0
	for _, l := range lines {
		if strings.HasPrefix(l.text, "$ ") {
			flush(start)
			start = len(out)
		}
		out = append(out, l)
	}
	flush(start)
	return out
}

// normalizer replaces what must differ from run to run. Everything else on
// the page is compared as it is.
type normalizer struct {
	// pinned are the MACs the script sets itself (port add --mac, veth
	// address): any MAC address written in the script. They are compared
	// as they are.
	pinned map[string]bool
	// macs numbers the other MACs (vswitchd picks gateway and uplink MACs at
	// random) in the order they first appear, so that the same MAC twice on
	// the page must be the same MAC twice in the output.
	macs map[string]int
}

var (
	macRE = regexp.MustCompile(`(?i)\b[0-9a-f]{2}(:[0-9a-f]{2}){5}\b`)
	// Each pair: what varies, and what it becomes on both sides.
	varies = []struct {
		re   *regexp.Regexp
		with string
	}{
		// The scripts' namespaces: vtuN-RANDOM-ROLE; the page says ROLE.
		{regexp.MustCompile(`vtu[0-9]+-[0-9a-f]{6}-`), ""},
		{regexp.MustCompile(`/tmp/vswitch-tut[0-9]+\.[A-Za-z0-9]+`), "$$tmp"},
		// Clock times (tcpdump, capture, trace --live).
		{regexp.MustCompile(`\b\d\d:\d\d:\d\d\.\d{6}\b`), "HH:MM:SS.us"},
		// ping: round trip times and the run's length.
		{regexp.MustCompile(`time=[0-9.]+ ms`), "time=T ms"},
		{regexp.MustCompile(`time [0-9]+ms`), "time Tms"},
		{regexp.MustCompile(`rtt min/avg/max/mdev = [0-9./]+ ms`), "rtt min/avg/max/mdev = T ms"},
		// Ages (FDB entries, "age 0s" in trace) and route cache expiry.
		{regexp.MustCompile(`\b[0-9]+s\b`), "Ns"},
		{regexp.MustCompile(`expires [0-9]+sec`), "expires Nsec"},
		// conntrack show: the seconds left before an entry expires.
		{regexp.MustCompile(`^(tcp|udp|icmp)(\s+\d+\s+)\d+\b`), "$1${2}T"},
		// conntrack show: a finished TCP conn is in TIME_WAIT, or in CLOSE
		// when a stray RST ended it. In tutorial 3 the hairpin fetches
		// (container2 to 172.17.0.1:8000, container1 to its own published
		// port) end so in about one run in 50: a duplicate ACK of the
		// server reaches the client after it closed, and the client
		// answers RST. curl has its page either way; which state the
		// conn ends in is a race of the teardown.
		{regexp.MustCompile(`^(tcp\s+\d+\s+T )CLOSE\b`), "${1}TIME_WAIT"},
		// ICMP echo identifiers (ping picks one per run), IP ids.
		{regexp.MustCompile(`\bid[ =][0-9]+`), "id N"},
		// Ephemeral TCP/UDP ports the kernel picks for clients (32768-60999):
		// 5-digit ports after "sport=", "dport=", "IP:" or tcpdump's "IP.".
		{regexp.MustCompile(`((?:s|d)port=|\d+\.\d+\.\d+\.\d+[:.])(3[2-9]\d{3}|[4-5]\d{4}|60\d{3})\b`), "${1}EPH"},
		// tcpdump -v: TCP sequence numbers, windows, options.
		{regexp.MustCompile(`seq [0-9]+(:[0-9]+)?`), "seq S"},
		{regexp.MustCompile(`ack [0-9]+`), "ack A"},
		{regexp.MustCompile(`win [0-9]+`), "win W"},
		{regexp.MustCompile(`options \[[^\]]*\]`), "options [O]"},
	}
	// Runs of spaces: table columns widen with their widest cell (an age
	// of 10s instead of 0s), so alignment is not compared.
	spacesRE = regexp.MustCompile(`[ \t]{2,}`)
	// An IPv6 link-local address made from a MAC (modified EUI-64,
	// fe80::XXXX:XXff:feXX:XXXX), such as a dual-stack gateway's: it is
	// read as fe80::MAC, so a random MAC in it is numbered with the others.
	eui64RE = regexp.MustCompile(`(?i)\bfe80::(?:([0-9a-f]{1,4}):)?([0-9a-f]{0,2})ff:fe([0-9a-f]{2}):([0-9a-f]{1,4})\b`)
)

// eui64MAC turns a modified-EUI-64 link-local address into fe80::MAC.
func eui64MAC(ll string) string {
	m := eui64RE.FindStringSubmatch(ll)
	var g1, g2, g3, g4 uint64
	fmt.Sscanf("0"+m[1], "%x", &g1)
	fmt.Sscanf("0"+m[2], "%x", &g2)
	fmt.Sscanf("0"+m[3], "%x", &g3)
	fmt.Sscanf("0"+m[4], "%x", &g4)
	return fmt.Sprintf("fe80::%02x:%02x:%02x:%02x:%02x:%02x", (g1>>8)^2, g1&0xff, g2, g3, g4>>8, g4&0xff)
}

func newNormalizer(script string) *normalizer {
	n := &normalizer{pinned: map[string]bool{}, macs: map[string]int{}}
	for _, m := range macRE.FindAllString(script, -1) {
		n.pinned[strings.ToLower(m)] = true
	}
	return n
}

func (n *normalizer) line(s string) string {
	for _, v := range varies {
		s = v.re.ReplaceAllString(s, v.with)
	}
	s = eui64RE.ReplaceAllStringFunc(s, eui64MAC)
	s = macRE.ReplaceAllStringFunc(s, func(m string) string {
		m = strings.ToLower(m)
		if n.pinned[m] {
			return m
		}
		i, ok := n.macs[m]
		if !ok {
			i = len(n.macs) + 1
			n.macs[m] = i
		}
		return fmt.Sprintf("<mac-%d>", i)
	})
	return strings.TrimRight(spacesRE.ReplaceAllString(s, "  "), " ")
}

// compareTranscripts returns "" when the page's transcript and the script's
// output agree after normalisation, else a unified-style diff: "-" lines are
// the page's (with their line numbers), "+" lines the output's.
func compareTranscripts(pageName, page, script, output string) string {
	want := pageTranscript(page)
	got := outputTranscript(output)
	// Each side numbers its random MACs by itself.
	nw, ng := newNormalizer(script), newNormalizer(script)
	a := make([]string, len(want))
	for i, l := range want {
		a[i] = nw.line(l.text)
	}
	b := make([]string, len(got))
	for i, l := range got {
		b[i] = ng.line(l.text)
	}
	ops := diffLines(a, b)
	same := true
	for _, o := range ops {
		if o.kind != ' ' {
			same = false
			break
		}
	}
	if same {
		return ""
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "--- %s (the page; line numbers are its own)\n+++ the script's output (normalised as in tutorials_test.go)\n", pageName)
	const ctx = 3
	for i := 0; i < len(ops); {
		if ops[i].kind == ' ' {
			i++
			continue
		}
		lo := max(0, i-ctx)
		hi := i
		for j := i; j < len(ops); j++ {
			if ops[j].kind != ' ' {
				hi = j
			} else if j-hi > 2*ctx {
				break
			}
		}
		hi = min(len(ops)-1, hi+ctx)
		pl := 0
		for k := lo; k <= hi && pl == 0; k++ {
			if ops[k].a >= 0 {
				pl = want[ops[k].a].line
			}
		}
		fmt.Fprintf(&sb, "@@ %s line %d @@\n", pageName, pl)
		for k := lo; k <= hi; k++ {
			o := ops[k]
			switch o.kind {
			case ' ':
				fmt.Fprintf(&sb, "  %4d  %s\n", want[o.a].line, want[o.a].text)
			case '-':
				fmt.Fprintf(&sb, "- %4d  %s\n", want[o.a].line, want[o.a].text)
			case '+':
				fmt.Fprintf(&sb, "+       %s\n", got[o.b].text)
			}
		}
		i = hi + 1
	}
	return sb.String()
}

type diffOp struct {
	kind byte // ' ', '-' (only in a), '+' (only in b)
	a, b int  // indexes, -1 when absent
}

// diffLines is a longest-common-subsequence diff; transcripts are a few
// hundred lines, so the quadratic table is small.
func diffLines(a, b []string) []diffOp {
	n, m := len(a), len(b)
	l := make([][]int, n+1)
	for i := range l {
		l[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				l[i][j] = l[i+1][j+1] + 1
			} else {
				l[i][j] = max(l[i+1][j], l[i][j+1])
			}
		}
	}
	var ops []diffOp
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && a[i] == b[j]:
			ops = append(ops, diffOp{' ', i, j})
			i++
			j++
		case i < n && (j == m || l[i+1][j] >= l[i][j+1]):
			ops = append(ops, diffOp{'-', i, -1})
			i++
		default:
			ops = append(ops, diffOp{'+', -1, j})
			j++
		}
	}
	return ops
}

// TestTutorialCompare checks the comparer itself, without root: equal
// modulo what varies, and a changed, missing or extra line is reported with
// the page's line number.
func TestTutorialCompare(t *testing.T) {
	page := strings.Join([]string{
		"# Tutorial",
		"",
		"```sh",
		"$ not checked: a sh block",
		"```",
		"",
		"```",
		"$ vswitchctl fdb show",
		"MAC                 PORT   NETWORK   AGE   STATIC",
		"02:42:0a:64:00:0a   net1   br0       0s    no",
		"$ ip netns exec net1 ping -c 1 10.100.0.1",
		"64 bytes from 10.100.0.1: icmp_seq=1 ttl=64 time=0.076 ms",
		"```",
		"",
		"```",
		"$ ip -n net1 neigh show",
		"10.100.0.1 dev eth0 lladdr 46:37:13:85:f0:1d REACHABLE",
		"$ vswitchctl network inspect br0 | grep gateway_mac",
		"  \"gateway_mac\": \"46:37:13:85:f0:1d\",",
		"$ vswitchctl conntrack show --proto tcp",
		"tcp      6 118 TIME_WAIT src=172.17.0.101 dst=10.0.12.15 sport=51806 dport=8000 src=172.17.0.101 dst=172.17.0.1 sport=8080 dport=51806",
		"```",
		"",
	}, "\n")
	script := "ctl port add br0 --mac 02:42:0a:64:00:0a\n"
	output := strings.Join([]string{
		"",
		"== a step",
		"$ vswitchctl fdb show",
		"MAC                 PORT   NETWORK   AGE    STATIC",
		"02:42:0a:64:00:0a   net1   br0       12s    no",
		"$ ip netns exec vtu1-a1b2c3-net1 ping -c 1 10.100.0.1",
		"64 bytes from 10.100.0.1: icmp_seq=1 ttl=64 time=0.123 ms",
		"",
		"== another",
		"$ ip -n vtu1-a1b2c3-net1 neigh show",
		"10.100.0.1 dev eth0 lladdr 9a:00:11:22:33:44 REACHABLE",
		"$ vswitchctl network inspect br0 | grep gateway_mac",
		"  \"gateway_mac\": \"9a:00:11:22:33:44\",",
		"$ vswitchctl conntrack show --proto tcp",
		"tcp      6 9 CLOSE src=172.17.0.101 dst=10.0.12.15 sport=40112 dport=8000 src=172.17.0.101 dst=172.17.0.1 sport=8080 dport=40112",
		"",
		"== done",
	}, "\n")
	if d := compareTranscripts("p.md", page, script, output); d != "" {
		t.Fatalf("same transcript modulo prefix, time, age, random MAC and alignment reported as different:\n%s", d)
	}

	changed := strings.Replace(output, "ttl=64", "ttl=63", 1)
	d := compareTranscripts("p.md", page, script, changed)
	if !strings.Contains(d, "@@ p.md line") || !strings.Contains(d, "-   12  64 bytes from 10.100.0.1: icmp_seq=1 ttl=64") ||
		!strings.Contains(d, "+       64 bytes from 10.100.0.1: icmp_seq=1 ttl=63") {
		t.Fatalf("a changed line: want it named with page line 12 and the new text, got:\n%s", d)
	}

	// A pinned MAC is compared as it is.
	if d := compareTranscripts("p.md", page, script, strings.Replace(output, "02:42:0a:64:00:0a   net1", "02:42:0a:64:00:0b   net1", 1)); !strings.Contains(d, "-   10  02:42:0a:64:00:0a") {
		t.Fatalf("a changed pinned MAC: want a diff at page line 10, got:\n%s", d)
	}
	// A random MAC must still be the same one where the page shows it twice.
	if d := compareTranscripts("p.md", page, script, strings.Replace(output, "\"9a:00:11:22:33:44\"", "\"9a:00:11:22:33:45\"", 1)); !strings.Contains(d, "-   19") {
		t.Fatalf("two different random MACs where the page has one: want a diff at page line 19, got:\n%s", d)
	}
	// A gateway's link-local address is its random MAC: numbered with it.
	ll := newNormalizer("")
	if got := ll.line("default via fe80::64d0:91ff:fe36:473e dev eth0 lladdr 66:d0:91:36:47:3e"); got != "default via fe80::<mac-1> dev eth0 lladdr <mac-1>" {
		t.Fatalf("gateway link-local normalised to %q", got)
	}
	if got := newNormalizer("--mac 02:42:0a:1e:00:02").line("fe80::42:aff:fe1e:2/64"); got != "fe80::02:42:0a:1e:00:02/64" {
		t.Fatalf("pinned MAC's link-local normalised to %q", got)
	}
	// A missing command, and an extra one.
	if d := compareTranscripts("p.md", page, script, strings.Replace(output, "$ vswitchctl network inspect br0 | grep gateway_mac\n", "", 1)); !strings.Contains(d, "-   18  $ vswitchctl network inspect") {
		t.Fatalf("a command missing from the output: want page line 18 named, got:\n%s", d)
	}
	if d := compareTranscripts("p.md", page, script, output+"\n$ vswitchctl stats\nPORT\n"); !strings.Contains(d, "+       $ vswitchctl stats") {
		t.Fatalf("an extra command in the output: want it shown, got:\n%s", d)
	}
	// Output of the script outside any "$ " command is not compared.
	if d := compareTranscripts("p.md", page, script, "made namespaces\n"+output); d != "" {
		t.Fatalf("lines before the first command compared:\n%s", d)
	}
}

// TestTutorials runs every docs/tutorials/NN-*.sh with the binaries under
// test and compares its output with its page.
func TestTutorials(t *testing.T) {
	if skipReason != "" {
		t.Skip(skipReason)
	}
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	scripts, _ := filepath.Glob(filepath.Join(root, "docs/tutorials/[0-9][0-9]-*.sh"))
	if len(scripts) < 5 {
		t.Fatalf("found %d tutorial scripts in docs/tutorials, want at least 5", len(scripts))
	}
	for _, sh := range scripts {
		name := strings.TrimSuffix(filepath.Base(sh), ".sh")
		t.Run(name, func(t *testing.T) {
			md := strings.TrimSuffix(sh, ".sh") + ".md"
			page, err := os.ReadFile(md)
			if err != nil {
				t.Fatalf("tutorial script %s has no page: %v", filepath.Base(sh), err)
			}
			script, err := os.ReadFile(sh)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, "bash", sh)
			cmd.Env = append(os.Environ(), "VSWITCH_BIN="+filepath.Dir(vswitchdBin))
			var out bytes.Buffer
			cmd.Stdout = &out
			cmd.Stderr = &out // one pipe, as a terminal shows both
			start := time.Now()
			err = cmd.Run()
			t.Logf("%s ran in %.1fs", filepath.Base(sh), time.Since(start).Seconds())
			if err != nil {
				t.Fatalf("%s: %v (it must run to the end); its output:\n%s", filepath.Base(sh), err, tail(out.String(), 60))
			}
			if d := compareTranscripts("docs/tutorials/"+filepath.Base(md), string(page), string(script), out.String()); d != "" {
				t.Errorf("the page does not show what the script printed; fix the page (or the script):\n%s", d)
			}
			if n := strings.Count(string(page), "\n$ "); n < 5 {
				t.Errorf("%s: only %d commands in transcript blocks", filepath.Base(md), n)
			}
		})
	}
}
