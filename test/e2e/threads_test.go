package e2e

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestWorkerThreadsNamed: vswitchd's dataplane workers are threads of
// their own, named vswd-workerN (what top -H and ps -L show, and how the
// bench harness tells them from the Go runtime's threads), at the raised
// priority (--worker-nice, -5 by default), and no other thread has it.
func TestWorkerThreadsNamed(t *testing.T) {
	e := newEnv(t)
	check := func(d *daemon, what string, isRaised func(nice, policy string) bool) {
		t.Helper()
		tasks, err := filepath.Glob(filepath.Join("/proc", strconv.Itoa(d.cmd.Process.Pid), "task", "*"))
		if err != nil || len(tasks) == 0 {
			t.Fatalf("no threads of vswitchd: %v", err)
		}
		var names []string
		for _, task := range tasks {
			comm, err1 := os.ReadFile(filepath.Join(task, "comm"))
			stat, err2 := os.ReadFile(filepath.Join(task, "stat"))
			if err1 != nil || err2 != nil {
				continue // ended meanwhile
			}
			name := strings.TrimSpace(string(comm))
			// stat: "tid (comm) state ...": nice is field 19 and policy
			// field 41, the 17th and 39th after ")".
			f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
			nice, policy := f[16], f[38]
			if strings.HasPrefix(name, "vswd-worker") {
				names = append(names, name)
				if !isRaised(nice, policy) {
					t.Errorf("%s: thread %s has nice %s, policy %s: not raised", what, name, nice, policy)
				}
			} else if isRaised(nice, policy) {
				t.Errorf("%s: thread %s (%s) is raised as the workers are (nice %s, policy %s)", what, filepath.Base(task), name, nice, policy)
			}
		}
		sort.Strings(names)
		if strings.Join(names, ",") != "vswd-worker0,vswd-worker1" {
			t.Fatalf("%s: worker threads %v, want vswd-worker0 and vswd-worker1", what, names)
		}
	}
	d := e.startDaemon("", "--workers", "2")
	check(d, "default", func(nice, _ string) bool { return nice == "-5" })
	d.stop()
	// --worker-rt: SCHED_FIFO (policy 1) for the workers only.
	d2 := e.startDaemon("", "--workers", "2", "--worker-rt", "1")
	check(d2, "--worker-rt 1", func(_, policy string) bool { return policy == "1" })
}

// TestWorkerSpinIdle: the workers poll for 50 µs after their last frame
// (--worker-spin's default) and then sleep: a switch whose traffic has
// stopped uses no CPU.
func TestWorkerSpinIdle(t *testing.T) {
	e := newEnv(t)
	d := e.startDaemon("", "--workers", "2")
	d.mustCtl("network", "create", "spinlan", "--subnet", "10.219.77.0/24")
	ns1, ns2 := e.newNS("c1"), e.newNS("c2")
	d.addPort("spinlan", ns1)
	p2 := d.addPort("spinlan", ns2)
	if r := e.ping(ns1, p2.addr(), 10); r.code != 0 {
		t.Fatalf("ping through a polling switch lost replies:\n%v", r)
	}
	// CPU of the whole daemon over 2 s with no traffic, from
	// /proc/PID/stat (utime+stime, in clock ticks of 10 ms).
	ticks := func() int {
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(d.cmd.Process.Pid), "stat"))
		if err != nil {
			t.Fatalf("vswitchd's stat: %v", err)
		}
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		u, _ := strconv.Atoi(f[11])
		s, _ := strconv.Atoi(f[12])
		return u + s
	}
	idle := func() float64 {
		t0 := ticks()
		time.Sleep(2 * time.Second)
		return float64(ticks()-t0) / 2 // percent of one CPU (100 ticks per second)
	}
	pct := idle()
	t.Logf("idle: %.1f%% of a CPU", pct)
	if pct > 5 {
		t.Fatalf("idle vswitchd used %.1f%% of a CPU over 2 s after its traffic stopped: a worker kept polling", pct)
	}
	// The control: the same measurement during a flood ping must see the
	// busy workers, or its "idle" above would prove nothing.
	flood := e.startInNS(ns1, "ping", "-f", "-q", "-w", "3", p2.addr())
	pct = idle()
	flood.Wait()
	t.Logf("flood ping: %.1f%% of a CPU", pct)
	if pct < 10 {
		t.Fatalf("vswitchd used %.1f%% of a CPU while forwarding a flood ping: the measurement cannot see a busy worker", pct)
	}
}
