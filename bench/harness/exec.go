package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Harness owns everything a run creates — namespaces, processes, its work
// directory — and removes all of it in Close, whatever happened before.
type Harness struct {
	cfg  Config
	id   string // random, in every namespace name: vsb-ID-...
	work string // /tmp/vsbench-ID: sockets, state dirs, logs

	mu         sync.Mutex
	procs      map[*Proc]bool
	namespaces []string
	closeOnce  sync.Once
}

// NSPrefix starts the name of every namespace the harness makes.
const NSPrefix = "vsb-"

func (h *Harness) logf(format string, args ...any) {
	if h.cfg.Log != nil {
		fmt.Fprintf(h.cfg.Log, "vsbench: "+format+"\n", args...)
	}
}

func (h *Harness) debugf(format string, args ...any) {
	if h.cfg.Verbose {
		h.logf(format, args...)
	}
}

// result is a finished command.
type result struct {
	Stdout, Stderr string
	Code           int // -1 when it did not start or was killed
	Err            error
}

// errorf describes a failed command in one line: what ran and what it said.
func (r result) errorf(what string) error {
	msg := FirstLine(r.Stderr)
	if msg == "" {
		msg = FirstLine(r.Stdout)
	}
	if msg == "" && r.Err != nil {
		msg = r.Err.Error()
	}
	return fmt.Errorf("%s: exit %d: %s", what, r.Code, msg)
}

// run runs argv to completion, bounded by timeout; killing on timeout or
// cancellation takes its whole process group.
func (h *Harness) run(ctx context.Context, timeout time.Duration, stdin string, argv ...string) result {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	h.debugf("run: %s", strings.Join(argv, " "))
	err := cmd.Run()
	r := result{Stdout: out.String(), Stderr: errb.String(), Code: -1, Err: err}
	if cmd.ProcessState != nil {
		r.Code = cmd.ProcessState.ExitCode()
	}
	if ctx.Err() == context.DeadlineExceeded && r.Code != 0 {
		r.Err = fmt.Errorf("timed out after %v", timeout)
		r.Stderr = "timed out after " + timeout.String() + "\n" + r.Stderr
	}
	return r
}

// must runs argv and turns a non-zero exit into an error.
func (h *Harness) must(ctx context.Context, argv ...string) error {
	r := h.run(ctx, 30*time.Second, "", argv...)
	if r.Code != 0 {
		return r.errorf(strings.Join(argv, " "))
	}
	return nil
}

// nsExec runs argv inside namespace ns.
func (h *Harness) nsExec(ctx context.Context, ns string, timeout time.Duration, argv ...string) result {
	return h.run(ctx, timeout, "", append([]string{"ip", "netns", "exec", ns}, argv...)...)
}

// Proc is a background process the harness started and will stop.
type Proc struct {
	name   string
	cmd    *exec.Cmd
	stdout syncBuffer
	stderr syncBuffer
	done   chan struct{}
	err    error
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	// tee, when set, gets a copy (the daemon's log file)
	tee io.Writer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tee != nil {
		_, _ = b.tee.Write(p)
	}
	if b.buf.Len() > 4<<20 { // keep memory bounded for chatty daemons
		b.buf.Reset()
	}
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// start starts argv in the background in its own process group.
func (h *Harness) start(name string, logTo io.Writer, argv ...string) (*Proc, error) {
	p := &Proc{name: name, done: make(chan struct{})}
	p.stderr.tee = logTo
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	h.debugf("start: %s", strings.Join(argv, " "))
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	h.mu.Lock()
	h.procs[p] = true
	h.mu.Unlock()
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// startNS starts argv in the background inside namespace ns.
func (h *Harness) startNS(name, ns string, logTo io.Writer, argv ...string) (*Proc, error) {
	return h.start(name, logTo, append([]string{"ip", "netns", "exec", ns}, argv...)...)
}

// Pid of the process (ip netns exec execs in place, so it is the tool's).
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Wait waits for the process to end by itself, at most timeout.
func (p *Proc) Wait(timeout time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		return fmt.Errorf("%s still running after %v", p.name, timeout)
	}
}

// waitFor polls the process's stdout for a line, e.g. "ready".
func (p *Proc) waitFor(line string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if strings.Contains(p.stdout.String(), line+"\n") {
			return nil
		}
		if p.Exited() {
			return fmt.Errorf("%s exited: %s", p.name, FirstLine(p.stderr.String()+p.stdout.String()))
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("%s: no %q within %v", p.name, line, timeout)
}

// Stop ends the process group: SIGTERM, then SIGKILL after grace.
func (h *Harness) stop(p *Proc, grace time.Duration) {
	if p == nil {
		return
	}
	if !p.Exited() {
		_ = syscall.Kill(-p.Pid(), syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(grace):
			_ = syscall.Kill(-p.Pid(), syscall.SIGKILL)
			<-p.done
		}
	}
	h.mu.Lock()
	delete(h.procs, p)
	h.mu.Unlock()
}

// addNS creates a namespace with IPv6 off (no router solicitations or MLD
// reports in the counters) and lo up, and registers it for removal.
func (h *Harness) addNS(ctx context.Context, name string) error {
	if !strings.HasPrefix(name, NSPrefix+h.id+"-") {
		return fmt.Errorf("refusing to create namespace %q outside %s%s-", name, NSPrefix, h.id)
	}
	if err := h.must(ctx, "ip", "netns", "add", name); err != nil {
		return err
	}
	h.mu.Lock()
	h.namespaces = append(h.namespaces, name)
	h.mu.Unlock()
	r := h.nsExec(ctx, name, 10*time.Second, "sysctl", "-qw",
		"net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
	if r.Code != 0 {
		return r.errorf("disable IPv6 in " + name)
	}
	return h.must(ctx, "ip", "-n", name, "link", "set", "lo", "up")
}

// delNS removes a namespace the harness made. Processes still inside it
// (servers of ours) are killed first, or the namespace would live on.
func (h *Harness) delNS(name string) {
	if !strings.HasPrefix(name, NSPrefix+h.id+"-") {
		return
	}
	ctx := context.Background()
	killNSProcs(ctx, h, name)
	r := h.run(ctx, 20*time.Second, "", "ip", "netns", "del", name)
	if r.Code != 0 && !strings.Contains(r.Stderr, "No such file") {
		h.logf("warning: %v", r.errorf("ip netns del "+name))
	}
	h.mu.Lock()
	for i, n := range h.namespaces {
		if n == name {
			h.namespaces = append(h.namespaces[:i], h.namespaces[i+1:]...)
			break
		}
	}
	h.mu.Unlock()
}

func killNSProcs(ctx context.Context, h *Harness, name string) {
	r := h.run(ctx, 10*time.Second, "", "ip", "netns", "pids", name)
	for _, f := range strings.Fields(r.Stdout) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 1 && pid != os.Getpid() {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	if r.Stdout != "" {
		time.Sleep(100 * time.Millisecond)
	}
}

// Close stops every process and removes every namespace and the work
// directory. It is safe to call more than once and from a signal handler
// while a run is in progress; later callers wait for the first.
func (h *Harness) Close() {
	h.closeOnce.Do(func() {
		h.mu.Lock()
		procs := make([]*Proc, 0, len(h.procs))
		for p := range h.procs {
			procs = append(procs, p)
		}
		h.mu.Unlock()
		for _, p := range procs {
			h.stop(p, 3*time.Second)
		}
		h.mu.Lock()
		ns := append([]string(nil), h.namespaces...)
		h.mu.Unlock()
		for i := len(ns) - 1; i >= 0; i-- {
			h.delNS(ns[i])
		}
		// anything of this run that a failure path did not register
		for _, n := range listNS(h) {
			if strings.HasPrefix(n, NSPrefix+h.id+"-") {
				h.delNS(n)
			}
		}
		if h.work != "" && !h.cfg.KeepWork {
			_ = os.RemoveAll(h.work)
		}
	})
}

func listNS(h *Harness) []string {
	r := h.run(context.Background(), 10*time.Second, "", "ip", "netns", "list")
	var out []string
	for _, l := range strings.Split(r.Stdout, "\n") {
		if f := strings.Fields(l); len(f) > 0 {
			out = append(out, f[0])
		}
	}
	return out
}

// CleanStale removes namespaces of earlier runs whose harness is gone
// (killed with SIGKILL, machine reset): vsb-ID-* where /tmp/vsbench-ID/pid
// names no live process. Runs in progress are left alone.
func CleanStale(log io.Writer) error {
	h := &Harness{cfg: Config{Log: log}, procs: map[*Proc]bool{}}
	ids := map[string]bool{}
	for _, n := range listNS(h) {
		rest, ok := strings.CutPrefix(n, NSPrefix)
		if !ok {
			continue
		}
		id, _, ok := strings.Cut(rest, "-")
		if !ok || len(id) != 8 {
			continue
		}
		if !ids[id] {
			ids[id] = runAlive(id)
		}
		if ids[id] {
			continue
		}
		h.id = id
		h.logf("removing stale namespace %s", n)
		h.delNS(n)
	}
	return nil
}

func runAlive(id string) bool {
	b, err := os.ReadFile("/tmp/vsbench-" + id + "/pid")
	if err != nil {
		return false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return false
	}
	err = syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
