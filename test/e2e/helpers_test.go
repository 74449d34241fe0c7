package e2e

// The helper library of the namespace tier: the binaries (built once, from this
// tree, into a temporary directory), a daemon per test, vswitchctl, and network
// namespaces with unique names that go away when the test ends, failed or not.
//
// Safety (shared/design/TESTING.md): nothing here changes the root network
// namespace. Namespaces are named vst-<random>-<role>; every address, route,
// veth and sysctl is made inside them; traffic only flows between them.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

var (
	// skipReason is set by TestMain when this machine cannot run the tier.
	skipReason string
	// vswitchdBin and vswitchctlBin are the binaries under test.
	vswitchdBin, vswitchctlBin string
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	switch {
	case os.Geteuid() != 0:
		skipReason = "the namespace tier needs root (it creates network namespaces and TAPs): run as root"
	case !haveCmd("ip"):
		skipReason = "the namespace tier needs iproute2's ip (apt-get install iproute2)"
	case !haveCmd("ping"):
		skipReason = "the namespace tier needs ping (apt-get install iputils-ping)"
	}
	if skipReason != "" {
		return m.Run() // every test skips and says why
	}
	// VSWITCH_E2E_BIN names a directory of already built binaries (e.g.
	// bin/ after make build); by default they are built from this tree.
	if dir := os.Getenv("VSWITCH_E2E_BIN"); dir != "" {
		vswitchdBin = filepath.Join(dir, "vswitchd")
		vswitchctlBin = filepath.Join(dir, "vswitchctl")
		for _, b := range []string{vswitchdBin, vswitchctlBin} {
			if _, err := os.Stat(b); err != nil {
				fmt.Fprintf(os.Stderr, "e2e: VSWITCH_E2E_BIN=%s: %v\n", dir, err)
				return 1
			}
		}
		return m.Run()
	}
	root, err := repoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "vst-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	// Always build from this tree: a stale bin/ would test old code.
	vswitchdBin = filepath.Join(dir, "vswitchd")
	vswitchctlBin = filepath.Join(dir, "vswitchctl")
	for bin, pkg := range map[string]string{vswitchdBin: "./cmd/vswitchd", vswitchctlBin: "./cmd/vswitchctl"} {
		cmd := exec.Command("go", "build", "-o", bin, pkg)
		cmd.Dir = root
		// As make build: without cgo, vswitchd can drop its capabilities.
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: go build %s: %v\n%s", pkg, err, out)
			return 1
		}
	}
	return m.Run()
}

func haveCmd(name string) bool {
	_, err := exec.LookPath(name)
	return err == nil
}

// repoRoot is the directory of the go.mod of module vswitch, above the
// working directory.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(strings.TrimSpace(string(b)), "module vswitch\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod of module vswitch above the working directory")
		}
		dir = parent
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// ---------------------------------------------------------------------------
// env: what one test owns.

// env is one test's world: its daemons, its namespaces, its temporary
// directory. Its cleanup, registered first so it runs last, kills the daemons
// (a TAP's open fd pins its namespace), then the processes left in the
// namespaces, then deletes the namespaces.
type env struct {
	t          *testing.T
	id         string // random, in every namespace name
	dir        string // short path: unix socket paths are limited to 108 bytes
	daemons    []*daemon
	namespaces []string
	procs      []*exec.Cmd // background processes (servers) started in namespaces
}

func newEnv(t *testing.T) *env {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	dir, err := os.MkdirTemp("", "vst-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, id: randHex(3), dir: dir}
	t.Cleanup(e.cleanup)
	return e
}

func (e *env) cleanup() {
	t := e.t
	for _, p := range e.procs {
		if p.ProcessState == nil {
			_ = p.Process.Kill()
			_ = p.Wait()
		}
	}
	for _, d := range e.daemons {
		d.kill()
	}
	if t.Failed() {
		for i, d := range e.daemons {
			b, _ := os.ReadFile(d.logPath)
			t.Logf("---- log of vswitchd #%d, last lines:\n%s", i+1, tail(string(b), 60))
		}
	}
	for _, ns := range slices.Backward(e.namespaces) {
		// Whatever still runs in the namespace was started by this test.
		if out, err := exec.Command("ip", "netns", "pids", ns).Output(); err == nil {
			for _, f := range strings.Fields(string(out)) {
				var pid int
				if _, err := fmt.Sscan(f, &pid); err == nil && pid > 1 {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			t.Errorf("cleanup: ip netns del %s: %v: %s", ns, err, out)
		}
		// The resolv.conf port add wrote for it, when the daemon died
		// before it could remove it.
		os.RemoveAll(filepath.Join("/etc/netns", ns))
	}
	os.RemoveAll(e.dir)
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// ---------------------------------------------------------------------------
// Commands.

// result is what a command did.
type result struct {
	cmd    string
	stdout string
	stderr string
	code   int // exit status; -1 when it could not run or was killed
}

func (r result) String() string {
	return fmt.Sprintf("%s: exit %d\nstdout: %s\nstderr: %s", r.cmd, r.code, strings.TrimSpace(r.stdout), strings.TrimSpace(r.stderr))
}

// run runs a command with a timeout and returns what it did.
func run(timeout time.Duration, name string, args ...string) result {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.WaitDelay = 2 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{cmd: name + " " + strings.Join(args, " "), stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.Exited():
		r.code = ee.ExitCode()
	default:
		r.code = -1
		if ctx.Err() != nil {
			r.stderr += fmt.Sprintf("\n(killed after %v)", timeout)
		} else {
			r.stderr += "\n" + err.Error()
		}
	}
	return r
}

// ---------------------------------------------------------------------------
// Namespaces.

// newNS creates namespace vst-<id>-<role> with IPv6 off inside it, so router
// solicitations and MLD reports add no frames to count, and lo up.
func (e *env) newNS(role string) string {
	e.t.Helper()
	ns := fmt.Sprintf("vst-%s-%s", e.id, role)
	if r := run(10*time.Second, "ip", "netns", "add", ns); r.code != 0 {
		e.t.Fatalf("%v", r)
	}
	e.namespaces = append(e.namespaces, ns)
	e.mustNS(ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
	e.mustNS(ns, "ip", "link", "set", "lo", "up")
	return ns
}

// inNS runs a command inside ns, killed after timeout.
func (e *env) inNS(ns string, timeout time.Duration, args ...string) result {
	return run(timeout, "ip", append([]string{"netns", "exec", ns}, args...)...)
}

// mustNS runs a command inside ns and fails the test unless it succeeds.
func (e *env) mustNS(ns string, args ...string) string {
	e.t.Helper()
	r := e.inNS(ns, 30*time.Second, args...)
	if r.code != 0 {
		e.t.Fatalf("in %s: %v", ns, r)
	}
	return r.stdout
}

// startInNS starts a background process inside ns; it is killed at cleanup.
func (e *env) startInNS(ns string, args ...string) *exec.Cmd {
	e.t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		e.t.Fatalf("start %v in %s: %v", args, ns, err)
	}
	e.procs = append(e.procs, cmd)
	return cmd
}

// ping sends count echo requests from ns to ip, and succeeds only when every
// one is answered within a few seconds.
func (e *env) ping(ns, ip string, count int) result {
	deadline := fmt.Sprint(count + 3)
	return e.inNS(ns, 15*time.Second, "ping", "-n", "-q", "-c", fmt.Sprint(count), "-i", "0.2", "-W", "1", "-w", deadline, ip)
}

// noReply sends echo requests from ns to ip for about seconds and says
// whether none was answered.
func (e *env) noReply(ns, ip string, seconds int) (bool, result) {
	r := e.inNS(ns, time.Duration(seconds+10)*time.Second, "ping", "-n", "-q", "-i", "0.5", "-W", "1", "-w", fmt.Sprint(seconds), ip)
	return r.code != 0 && strings.Contains(r.stdout, " 0 received"), r
}

func (e *env) mustPing(ns, ip string) {
	e.t.Helper()
	if r := e.ping(ns, ip, 2); r.code != 0 {
		e.t.Fatalf("ping from %s to %s got no (or not every) reply:\n%v", ns, ip, r)
	}
}

// linkExists says whether ns has an interface named ifname.
func (e *env) linkExists(ns, ifname string) bool {
	return e.inNS(ns, 10*time.Second, "ip", "link", "show", "dev", ifname).code == 0
}

// iperf runs a TCP iperf3 test from client to a server started in server (at
// ip) for secs seconds and returns the received rate in bit/s; it fails the
// test when iperf3 does.
func (e *env) iperf(client, server, ip string, secs int) float64 {
	e.t.Helper()
	bps, err := e.tryIperf(client, server, ip, secs)
	if err != nil {
		e.t.Fatal(err)
	}
	return bps
}

// tryIperf is iperf that returns its failure.
func (e *env) tryIperf(client, server, ip string, secs int) (float64, error) {
	e.t.Helper()
	if !haveCmd("iperf3") {
		e.t.Skip("needs iperf3 (apt-get install iperf3)")
	}
	e.startInNS(server, "iperf3", "-s", "-1", "-B", ip)
	if haveCmd("ss") {
		for range 100 { // until the server listens
			if r := e.inNS(server, 5*time.Second, "ss", "-Hltn", "sport = :5201"); strings.TrimSpace(r.stdout) != "" {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	var r result
	for range 50 {
		r = e.inNS(client, time.Duration(secs+20)*time.Second, "iperf3", "-c", ip, "-t", fmt.Sprint(secs), "-J")
		// iperf3 -J may exit 0 even when the connection was refused.
		if !strings.Contains(r.stdout+r.stderr, "Connection refused") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if r.code != 0 {
		return 0, fmt.Errorf("iperf3 from %s to %s failed:\n%v", client, ip, r)
	}
	var out struct {
		Error string `json:"error"`
		End   struct {
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		return 0, fmt.Errorf("iperf3 -J output: %v\n%s", err, r.stdout)
	}
	if out.Error != "" || out.End.SumReceived.BitsPerSecond == 0 {
		return 0, fmt.Errorf("iperf3 from %s to %s moved nothing:\n%v", client, ip, r)
	}
	return out.End.SumReceived.BitsPerSecond, nil
}

// ---------------------------------------------------------------------------
// The daemon and vswitchctl.

type daemon struct {
	e        *env
	sock     string
	stateDir string
	logPath  string
	cmd      *exec.Cmd
	done     chan struct{} // closed when the process has exited
	waitErr  error
}

// startDaemon starts vswitchd with no default network on the env's socket and
// stateDir (a fresh one when empty), and any extra flags, and waits until it
// answers.
func (e *env) startDaemon(stateDir string, extra ...string) *daemon {
	e.t.Helper()
	return e.startDaemonIn("", stateDir, extra...)
}

// startDaemonIn is startDaemon with vswitchd itself running in namespace ns
// (through `ip netns exec`, which execs it, so signals reach it) rather than
// in the test's own: for tests whose daemon must talk to a server of the
// test's, which then lives in ns, not in the root namespace.
func (e *env) startDaemonIn(ns, stateDir string, extra ...string) *daemon {
	e.t.Helper()
	return e.startDaemonAt(ns, filepath.Join(e.dir, "sock"), stateDir, extra...)
}

// startDaemonAt is startDaemonIn on socket sock: for a test with more than
// one daemon at a time (each with its own socket and state dir).
func (e *env) startDaemonAt(ns, sock, stateDir string, extra ...string) *daemon {
	e.t.Helper()
	n := len(e.daemons) + 1
	if stateDir == "" {
		stateDir = filepath.Join(e.dir, "state")
	}
	d := &daemon{
		e:        e,
		sock:     sock,
		stateDir: stateDir,
		logPath:  filepath.Join(e.dir, fmt.Sprintf("vswitchd-%d.log", n)),
		done:     make(chan struct{}),
	}
	logf, err := os.Create(d.logPath)
	if err != nil {
		e.t.Fatal(err)
	}
	args := append([]string{vswitchdBin, "--socket", d.sock, "--state-dir", d.stateDir,
		"--no-default-network", "--log-level", "debug"}, extra...)
	if ns != "" {
		args = append([]string{"ip", "netns", "exec", ns}, args...)
	}
	d.cmd = exec.Command(args[0], args[1:]...)
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	if err := d.cmd.Start(); err != nil {
		logf.Close()
		e.t.Fatalf("start vswitchd: %v", err)
	}
	logf.Close()
	e.daemons = append(e.daemons, d)
	go func() {
		d.waitErr = d.cmd.Wait()
		close(d.done)
	}()
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-d.done:
			e.t.Fatalf("vswitchd exited at start: %v", d.waitErr)
		default:
		}
		if r := d.ctl("version"); r.code == 0 {
			return d
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("vswitchd does not answer on %s after 15 s", d.sock)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (d *daemon) kill() {
	select {
	case <-d.done:
		return
	default:
	}
	_ = d.cmd.Process.Signal(syscall.SIGKILL)
	<-d.done
}

// stop sends SIGTERM and returns the exit status, or fails the test when the
// daemon does not stop within 10 s.
func (d *daemon) stop() int {
	d.e.t.Helper()
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
		d.kill()
		d.e.t.Fatalf("vswitchd still runs 10 s after SIGTERM")
	}
	return d.cmd.ProcessState.ExitCode()
}

// ctl runs vswitchctl against this daemon.
func (d *daemon) ctl(args ...string) result {
	return run(30*time.Second, vswitchctlBin, append([]string{"--socket", d.sock}, args...)...)
}

// mustCtl runs vswitchctl and fails the test unless it succeeds.
func (d *daemon) mustCtl(args ...string) string {
	d.e.t.Helper()
	r := d.ctl(args...)
	if r.code != 0 {
		d.e.t.Fatalf("%v", r)
	}
	return r.stdout
}

// ctlJSON runs vswitchctl -o json and decodes its output into v.
func (d *daemon) ctlJSON(v any, args ...string) {
	d.e.t.Helper()
	out := d.mustCtl(append([]string{"-o", "json"}, args...)...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		d.e.t.Fatalf("vswitchctl -o json %s: not the JSON expected: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// JSON shapes of CLI.md, as a client reads them.

type port struct {
	Name    string `json:"name"`
	Network string `json:"network"`
	Kind    string `json:"kind"`
	Netns   string `json:"netns"`
	Ifname  string `json:"ifname"`
	MAC     string `json:"mac"`
	IP      string `json:"ip"`
}

// addr is the port's address without its prefix length.
func (p port) addr() string {
	pfx, err := netip.ParsePrefix(p.IP)
	if err != nil {
		return p.IP
	}
	return pfx.Addr().String()
}

type network struct {
	Name    string `json:"name"`
	Subnet  string `json:"subnet"`
	Gateway string `json:"gateway"`
	Ports   []port `json:"ports"`
}

type fdbEntry struct {
	MAC     string `json:"mac"`
	Port    string `json:"port"`
	Network string `json:"network"`
	AgeS    int64  `json:"age_s"`
	Static  bool   `json:"static"`
}

type portStats struct {
	Name      string            `json:"name"`
	Network   string            `json:"network"`
	RxPackets uint64            `json:"rx_packets"`
	RxBytes   uint64            `json:"rx_bytes"`
	TxPackets uint64            `json:"tx_packets"`
	TxBytes   uint64            `json:"tx_bytes"`
	RxGSO     uint64            `json:"rx_gso_packets"`
	TxGSO     uint64            `json:"tx_gso_packets"`
	Drops     map[string]uint64 `json:"drops"`
}

type stats struct {
	Ports []portStats       `json:"ports"`
	Drops map[string]uint64 `json:"drops"`
}

// addPort runs `port add NETWORK --netns NS [extra...] -o json`.
func (d *daemon) addPort(net, ns string, extra ...string) port {
	d.e.t.Helper()
	var p port
	d.ctlJSON(&p, append([]string{"port", "add", net, "--netns", ns}, extra...)...)
	if p.Name == "" || p.IP == "" || p.MAC == "" {
		d.e.t.Fatalf("port add %s --netns %s printed an incomplete port: %+v", net, ns, p)
	}
	return p
}

func (d *daemon) ports() []port {
	d.e.t.Helper()
	var ps []port
	d.ctlJSON(&ps, "port", "ls")
	return ps
}

func (d *daemon) fdb(net string) []fdbEntry {
	d.e.t.Helper()
	var es []fdbEntry
	d.ctlJSON(&es, "fdb", "show", "--network", net)
	return es
}

// stats returns the per-port counters by port name.
func (d *daemon) stats() map[string]portStats {
	d.e.t.Helper()
	var s stats
	d.ctlJSON(&s, "stats")
	m := map[string]portStats{}
	for _, p := range s.Ports {
		m[p.Name] = p
	}
	return m
}
