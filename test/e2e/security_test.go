package e2e

// The control plane's defences (issue 11): who may drive the daemon, what
// the API does with bad bodies, and which capabilities vswitchd keeps once
// it is set up.

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// nobody is the unprivileged user the tests call the daemon as.
const nobody = 65534

// socketGroup is an existing group for --socket-group (none is created: the
// tests do not change the host's users and groups).
func socketGroup(t *testing.T) (string, uint32) {
	t.Helper()
	for _, name := range []string{"nogroup", "nobody"} {
		if g, err := user.LookupGroup(name); err == nil {
			gid, _ := strconv.Atoi(g.Gid)
			return name, uint32(gid)
		}
	}
	t.Fatal("no group nogroup or nobody on this machine for --socket-group")
	return "", 0
}

// ctlAs runs vswitchctl against d as uid with primary group gid and the
// supplementary groups (none when empty). The binary is copied where that
// user can run it, next to the socket.
func (d *daemon) ctlAs(uid, gid uint32, groups []uint32, args ...string) result {
	d.e.t.Helper()
	bin := filepath.Join(d.e.dir, "vswitchctl-any")
	if _, err := os.Stat(bin); err != nil {
		b, err := os.ReadFile(vswitchctlBin)
		if err != nil {
			d.e.t.Fatal(err)
		}
		if err := os.WriteFile(bin, b, 0o755); err != nil {
			d.e.t.Fatal(err)
		}
		// The env's directory is private (0700): let others reach the
		// socket and the binary in it, as /run/vswitch would.
		if err := os.Chmod(d.e.dir, 0o755); err != nil {
			d.e.t.Fatal(err)
		}
	}
	cmd := exec.Command(bin, append([]string{"--socket", d.sock}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: groups}}
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{cmd: fmt.Sprintf("(uid %d gid %d groups %v) vswitchctl %s", uid, gid, groups, strings.Join(args, " ")),
		stdout: out.String(), stderr: errb.String(), code: cmd.ProcessState.ExitCode()}
	if err != nil && cmd.ProcessState == nil {
		d.e.t.Fatalf("%s: %v", r.cmd, err)
	}
	return r
}

// TestAPIRefusesOtherUsers: the socket is 0660 root:GROUP; root and members
// of GROUP (primary or supplementary) drive the daemon; anyone else is
// refused by the kernel at connect, and, should the socket's mode be lost,
// by the daemon itself (403), in one line, without any effect.
func TestAPIRefusesOtherUsers(t *testing.T) {
	e := newEnv(t)
	gname, gid := socketGroup(t)
	d := e.startDaemon("", "--socket-group", gname)

	st, err := os.Stat(d.sock)
	if err != nil {
		t.Fatal(err)
	}
	sys := st.Sys().(*syscall.Stat_t)
	if st.Mode().Perm() != 0o660 || sys.Uid != 0 || sys.Gid != gid {
		t.Fatalf("socket is %v uid %d gid %d, want 0660 root:%s (%d)", st.Mode().Perm(), sys.Uid, sys.Gid, gname, gid)
	}

	// In the group as the primary group: allowed, and the change is made.
	if r := d.ctlAs(nobody, gid, nil, "network", "create", "g1", "--subnet", "10.231.0.0/24"); r.code != 0 {
		t.Fatalf("a member of the socket group is refused: %v", r)
	}
	// In the group as a supplementary group: allowed.
	if r := d.ctlAs(nobody, 1, []uint32{gid}, "network", "ls"); r.code != 0 || !strings.Contains(r.stdout, "g1") {
		t.Fatalf("a supplementary member of the socket group is refused: %v", r)
	}
	// Not in the group: the kernel refuses the connect (socket mode).
	r := d.ctlAs(nobody, 1, nil, "network", "create", "evil", "--subnet", "10.232.0.0/24")
	if r.code != 1 || !strings.HasPrefix(r.stderr, "vswitchctl: permission denied on "+d.sock) || strings.Count(r.stderr, "\n") != 1 {
		t.Fatalf("a stranger at a 0660 socket: %v; want exit 1 and one line 'vswitchctl: permission denied on %s...'", r, d.sock)
	}
	// The mode lost (an operator's chmod, a bind mount): the daemon itself
	// refuses whoever is neither root nor in the group.
	if err := os.Chmod(d.sock, 0o666); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("vswitchctl: permission denied: uid %d (pid ", nobody)
	for _, args := range [][]string{
		{"network", "create", "evil", "--subnet", "10.232.0.0/24"},
		{"network", "ls"},
	} {
		r := d.ctlAs(nobody, 1, nil, args...)
		if r.code != 1 || !strings.HasPrefix(r.stderr, want) || !strings.Contains(r.stderr, fmt.Sprintf("is neither root nor in group %d", gid)) || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("a stranger at a 0666 socket: %v; want exit 1 and one line starting %q", r, want)
		}
	}
	// Root, of course, still drives it; and the refused create did nothing.
	out := d.mustCtl("network", "ls")
	if !strings.Contains(out, "g1") || strings.Contains(out, "evil") {
		t.Fatalf("networks after the refused requests:\n%s\nwant g1 and no evil", out)
	}
}

// TestAPIRejectsBadBodies: what the daemon answers a client that is not
// vswitchctl (curl on the socket): 413 for a body over 1 MiB, 400 saying
// what is wrong for malformed JSON or an unknown key; nothing created.
func TestAPIRejectsBadBodies(t *testing.T) {
	e := newEnv(t)
	if !haveCmd("curl") {
		t.Fatal("needs curl (apt-get install curl, or make deps)")
	}
	d := e.startDaemon("")
	big := filepath.Join(e.dir, "big.json")
	if err := os.WriteFile(big, []byte(`{"name":"big","subnet":"10.233.0.0/24","gateway":"`+strings.Repeat("1", 2<<20)+`"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	post := func(body string) (int, string) {
		t.Helper()
		r := run(30*time.Second, "curl", "-sS", "--unix-socket", d.sock, "-X", "POST", "-H", "Content-Type: application/json",
			"--data-binary", body, "-w", "\n%{http_code}", "http://vswitchd/v1/networks")
		if r.code != 0 {
			t.Fatalf("%v", r)
		}
		i := strings.LastIndex(r.stdout, "\n")
		code, _ := strconv.Atoi(r.stdout[i+1:])
		return code, r.stdout[:i]
	}
	cases := []struct {
		body   string
		status int
		says   string
	}{
		{"@" + big, 413, "over the API's limit of 1048576"},
		{`{"name":"x","subnet":"10.234.0.0/24",}`, 400, "invalid JSON at byte"},
		{`{"name":"x","subnet":"10.234.0.0/24","colour":"red"}`, 400, `unknown field \"colour\"`},
		{`{"name":"x","subnet":24}`, 400, `field \"subnet\": want a string, got a number`},
	}
	for _, c := range cases {
		status, body := post(c.body)
		if status != c.status || !strings.Contains(body, c.says) {
			t.Errorf("POST /v1/networks %.60s: %d %s, want %d saying %s", c.body, status, body, c.status, c.says)
		}
	}
	if out := d.mustCtl("network", "ls"); strings.Contains(out, "10.23") {
		t.Fatalf("a refused body created a network:\n%s", out)
	}
}

// capMask is the bit set of the capabilities vswitchd keeps (daemon.KeptCaps).
var keptCapMask = uint64(1)<<unix.CAP_NET_ADMIN | 1<<unix.CAP_NET_RAW | 1<<unix.CAP_SYS_ADMIN |
	1<<unix.CAP_SYS_PTRACE | 1<<unix.CAP_SYS_NICE | 1<<unix.CAP_IPC_LOCK | 1<<unix.CAP_NET_BIND_SERVICE

// procCaps reads the capability sets of /proc/PID[/task/TID]/status.
func procCaps(t *testing.T, statusPath string) map[string]uint64 {
	t.Helper()
	b, err := os.ReadFile(statusPath)
	if err != nil {
		t.Fatal(err)
	}
	caps := map[string]uint64{}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":\t")
		if ok && strings.HasPrefix(k, "Cap") {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				t.Fatalf("%s: %q: %v", statusPath, line, err)
			}
			caps[k] = n
		}
	}
	return caps
}

// TestCapabilitiesDropped: once it answers, vswitchd holds only the
// capabilities it needs, on every thread, and still does its work with
// them: ports added (by namespace name and by /proc/PID/ns/net), traffic
// through them, ports removed.
func TestCapabilitiesDropped(t *testing.T) {
	e := newEnv(t)
	d := e.startDaemon("")
	pid := d.cmd.Process.Pid
	caps := procCaps(t, fmt.Sprintf("/proc/%d/status", pid))
	t.Logf("vswitchd caps: CapEff %016x CapPrm %016x CapBnd %016x CapInh %016x CapAmb %016x",
		caps["CapEff"], caps["CapPrm"], caps["CapBnd"], caps["CapInh"], caps["CapAmb"])
	for set, want := range map[string]uint64{"CapEff": keptCapMask, "CapPrm": keptCapMask, "CapBnd": keptCapMask, "CapInh": 0, "CapAmb": 0} {
		if caps[set] != want {
			t.Errorf("%s = %016x, want %016x (net_admin, net_raw, sys_admin, sys_ptrace, sys_nice, ipc_lock)", set, caps[set], want)
		}
	}
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	if err != nil || len(tasks) < 2 {
		t.Fatalf("threads of vswitchd: %v %v", tasks, err)
	}
	wrong := 0
	for _, ts := range tasks {
		if c := procCaps(t, ts); c["CapEff"] != keptCapMask || c["CapPrm"] != keptCapMask {
			t.Errorf("%s: CapEff %016x CapPrm %016x, want %016x on every thread", ts, c["CapEff"], c["CapPrm"], keptCapMask)
			wrong++
		}
	}
	t.Logf("%d threads, %d of them with CapEff %016x", len(tasks), len(tasks)-wrong, keptCapMask)

	// The work goes on with what is left.
	d.mustCtl("network", "create", "capnet", "--subnet", "10.235.0.0/24")
	a, b, c := e.newNS("a"), e.newNS("b"), e.newNS("c")
	pa := d.addPort("capnet", a)
	pb := d.addPort("capnet", b)
	// A namespace given as /proc/PID/ns/net of a full-root process: opening
	// it is what CAP_SYS_PTRACE is kept for.
	sleeper := e.startInNS(c, "sleep", "300")
	pc := d.addPort("capnet", fmt.Sprintf("/proc/%d/ns/net", sleeper.Process.Pid))
	// Past two rounds of the namespace watcher, which reopens each
	// port's namespace file to see whether it is gone: pc must still be
	// there, its /proc path still openable with the kept capabilities.
	time.Sleep(2500 * time.Millisecond)
	if !slices.ContainsFunc(d.ports(), func(p port) bool { return p.Name == pc.Name }) {
		t.Fatalf("port %s on /proc/%d/ns/net was reaped while its process lives", pc.Name, sleeper.Process.Pid)
	}
	e.mustPing(a, pb.addr())
	e.mustPing(b, pc.addr())
	e.mustPing(c, pa.addr())
	for _, p := range []struct {
		port
		ns string
	}{{pa, a}, {pb, b}, {pc, c}} {
		d.mustCtl("port", "rm", p.Name)
		if e.linkExists(p.ns, p.Ifname) {
			t.Errorf("after port rm %s, %s is still in its namespace", p.Name, p.Ifname)
		}
	}
	b2, _ := os.ReadFile(d.logPath)
	if !strings.Contains(string(b2), "capabilities dropped") {
		t.Errorf("the log does not say the capabilities were dropped")
	}
}

// TestKeepCaps: --keep-caps leaves vswitchd with what it started with.
func TestKeepCaps(t *testing.T) {
	e := newEnv(t)
	d := e.startDaemon("", "--keep-caps")
	mine := procCaps(t, "/proc/self/status")
	got := procCaps(t, fmt.Sprintf("/proc/%d/status", d.cmd.Process.Pid))
	if got["CapEff"] != mine["CapEff"] || got["CapBnd"] != mine["CapBnd"] {
		t.Fatalf("with --keep-caps: CapEff %016x CapBnd %016x, want the starter's %016x %016x", got["CapEff"], got["CapBnd"], mine["CapEff"], mine["CapBnd"])
	}
	if got["CapEff"] == keptCapMask {
		t.Fatalf("the test runs with only the kept capabilities: it cannot tell --keep-caps from the drop")
	}
}
