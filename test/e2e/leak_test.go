package e2e

// Nothing leaks (issue 11): after `port rm`, `network rm` and a shutdown,
// no TAP is left in the namespaces, the daemon's open files are what they
// were before, and nothing of the daemon still refers to a namespace.

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fdKinds counts the open files of pid by kind: the target of each
// /proc/PID/fd link with its inode number cut off ("socket", "net" for a
// namespace, "anon_inode:[eventpoll]", "/dev/net/tun", ...).
func fdKinds(t *testing.T, pid int) map[string]int {
	t.Helper()
	links, err := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", pid))
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, l := range links {
		target, err := os.Readlink(l)
		if err != nil {
			continue // closed meanwhile
		}
		if k, _, ok := strings.Cut(target, ":["); ok && !strings.HasPrefix(target, "anon_inode:") {
			target = k // socket:[123] -> socket, net:[4026...] -> net
		}
		if strings.HasSuffix(target, ".log") {
			target = "(its log)" // a restarted daemon logs to another file
		}
		kinds[target]++
	}
	return kinds
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func fmtKinds(m map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}

// tapsIn counts the TAP devices in ns, and the links other than lo.
func (e *env) tapsIn(ns string) (taps, links int) {
	e.t.Helper()
	out := e.mustNS(ns, "ip", "-d", "-o", "link", "show")
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" || strings.Contains(l, ": lo:") {
			continue
		}
		links++
		if strings.Contains(l, "tun type tap") {
			taps++
		}
	}
	return taps, links
}

// nsRefs lists what of pid refers to one of the namespaces (by the inode of
// their /run/netns file): open files and the network namespaces of its
// threads.
func nsRefs(t *testing.T, pid int, namespaces []string) []string {
	t.Helper()
	want := map[string]string{}
	for _, ns := range namespaces {
		var st syscall.Stat_t
		if err := syscall.Stat(filepath.Join("/run/netns", ns), &st); err != nil {
			t.Fatal(err)
		}
		want[fmt.Sprintf("net:[%d]", st.Ino)] = ns
	}
	var refs []string
	fds, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", pid))
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/ns/net", pid))
	for _, l := range append(fds, tasks...) {
		if target, err := os.Readlink(l); err == nil && want[target] != "" {
			refs = append(refs, l+" -> "+want[target])
		}
	}
	return refs
}

// settle polls f until it returns "" (nothing wrong) or 5 s pass, and
// returns its last answer: closing a device's last fd and the workers
// letting go of a port take a moment after the API answered.
func settle(f func() string) string {
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := f()
		if s == "" || time.Now().After(deadline) {
			return s
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestNothingLeaks(t *testing.T) {
	e := newEnv(t)
	d := e.startDaemon("")
	pid := d.cmd.Process.Pid
	time.Sleep(500 * time.Millisecond) // the workers and the watcher are up
	base := fdKinds(t, pid)
	t.Logf("vswitchd fds at start: %d (%s)", total(base), fmtKinds(base))

	a, b, c := e.newNS("a"), e.newNS("b"), e.newNS("c")
	all := []string{a, b, c}
	sameAsBase := func(when string) string {
		now := fdKinds(t, pid)
		if maps.Equal(now, base) {
			return ""
		}
		return fmt.Sprintf("%s: vswitchd has %d fds (%s), at start %d (%s)", when, total(now), fmtKinds(now), total(base), fmtKinds(base))
	}
	noTaps := func(when string) {
		t.Helper()
		for _, ns := range all {
			if taps, links := e.tapsIn(ns); taps != 0 || links != 0 {
				t.Errorf("%s: namespace %s has %d TAP(s), %d link(s) besides lo; want none", when, ns, taps, links)
			}
		}
		if refs := nsRefs(t, pid, all); len(refs) != 0 {
			t.Errorf("%s: vswitchd still refers to the test namespaces: %v", when, refs)
		}
	}

	// Three rounds of churn; each must end where the first began.
	for round := 1; round <= 3; round++ {
		net := fmt.Sprintf("leak%d", round)
		d.mustCtl("network", "create", net, "--subnet", fmt.Sprintf("10.24%d.0.0/24", round))
		pa := d.addPort(net, a)
		pb := d.addPort(net, b)
		pc := d.addPort(net, c)
		e.mustPing(a, pb.addr())
		e.mustPing(c, pa.addr())
		e.mustPing(a, pc.addr())
		during := fdKinds(t, pid)
		if taps, _ := e.tapsIn(a); taps != 1 || during["/dev/net/tun"] <= base["/dev/net/tun"] {
			t.Fatalf("round %d: with the ports up, %d TAP in %s and %d tun fds open: the test would not see a leak", round, taps, a, during["/dev/net/tun"])
		}
		if round == 1 {
			t.Logf("vswitchd fds with 3 ports: %d (%s)", total(during), fmtKinds(during))
		}
		// One port by port rm, the other two with their network.
		d.mustCtl("port", "rm", pa.Name)
		if taps, _ := e.tapsIn(a); taps != 0 {
			t.Errorf("round %d: port rm %s left its TAP in %s", round, pa.Name, a)
		}
		d.mustCtl("network", "rm", net, "--force")
		noTaps(fmt.Sprintf("round %d, after port rm and network rm --force", round))
		if msg := settle(func() string { return sameAsBase(fmt.Sprintf("round %d", round)) }); msg != "" {
			t.Error(msg)
		}
		if ps := d.ports(); len(ps) != 0 {
			t.Errorf("round %d: port ls still lists %v", round, ps)
		}
	}
	after := fdKinds(t, pid)
	t.Logf("vswitchd fds after 3 rounds of 3 port add, 1 port rm, 1 network rm --force: %d (%s)", total(after), fmtKinds(after))

	// Shutdown with a port up: its TAP stays, persistent, for the next
	// daemon (by design); the socket goes. The next daemon takes the port
	// back and its port rm removes the TAP.
	d.mustCtl("network", "create", "last", "--subnet", "10.249.0.0/24")
	pl := d.addPort("last", a)
	if code := d.stop(); code != 0 {
		t.Fatalf("vswitchd exited %d after SIGTERM, want 0", code)
	}
	if _, err := os.Stat(d.sock); !os.IsNotExist(err) {
		t.Errorf("socket %s still exists after shutdown (%v)", d.sock, err)
	}
	if taps, _ := e.tapsIn(a); taps != 1 {
		t.Errorf("after shutdown, %d TAP(s) in %s, want the port's 1 (persistent)", taps, a)
	}
	d2 := e.startDaemon(d.stateDir)
	pid = d2.cmd.Process.Pid
	d2.mustCtl("port", "rm", pl.Name)
	d2.mustCtl("network", "rm", "last")
	noTaps("after restart, port rm and network rm")
	// The new daemon, with nothing configured, holds what the first one
	// held at its start.
	if msg := settle(func() string { return sameAsBase("restarted daemon after port rm") }); msg != "" {
		t.Error(msg)
	}
	if code := d2.stop(); code != 0 {
		t.Fatalf("second vswitchd exited %d after SIGTERM, want 0", code)
	}
	if _, err := os.Stat(d2.sock); !os.IsNotExist(err) {
		t.Errorf("socket %s still exists after the second shutdown (%v)", d2.sock, err)
	}
	for _, ns := range all {
		if taps, links := e.tapsIn(ns); taps != 0 || links != 0 {
			t.Errorf("after the last shutdown: %s has %d TAP(s), %d link(s) besides lo", ns, taps, links)
		}
	}
}
