package e2e

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
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
