package e2e

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServiceUnitSandbox runs vswitchd as packaging/vswitchd.service would,
// as far as that can be done without systemd (this machine's service
// manager is not touched): with the unit's capability bounding set and
// NoNewPrivileges (through setpriv), in a mount namespace read-only as
// ProtectSystem=full makes it (unshare), $NOTIFY_SOCKET pointing at a fake
// systemd, a --socket-group that is not root's and a config file. It
// checks what systemd and an operator see: READY=1 comes once the API
// answers, the socket belongs to the group, a port works (TAP, a namespace
// made after the start, embedded DNS, its resolv.conf) with only those
// capabilities and that file system, and
// SIGTERM brings STOPPING=1 and a clean exit.
func TestServiceUnitSandbox(t *testing.T) {
	e := newEnv(t)
	if !haveCmd("setpriv") {
		t.Fatal("setpriv missing: apt-get install util-linux")
	}
	if !haveCmd("getent") {
		t.Fatal("getent missing: apt-get install libc-bin")
	}
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	unit := unitSettings(t, filepath.Join(root, "packaging/vswitchd.service"))
	var bset []string
	for _, c := range strings.Fields(unit["CapabilityBoundingSet"]) {
		bset = append(bset, "+"+strings.ToLower(strings.TrimPrefix(c, "CAP_")))
	}
	if len(bset) == 0 || unit["NoNewPrivileges"] != "yes" {
		t.Fatalf("the unit has CapabilityBoundingSet=%q NoNewPrivileges=%q", unit["CapabilityBoundingSet"], unit["NoNewPrivileges"])
	}
	group, err := findGroup("nogroup", "nobody", "daemon")
	if err != nil {
		t.Fatal(err)
	}

	notify := filepath.Join(e.dir, "notify")
	nc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notify, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	next := func(what string) string {
		t.Helper()
		buf := make([]byte, 4096)
		nc.SetReadDeadline(time.Now().Add(30 * time.Second))
		n, err := nc.Read(buf)
		if err != nil {
			t.Fatalf("fake systemd got no %s: %v", what, err)
		}
		return string(buf[:n])
	}
	cfg := filepath.Join(e.dir, "vswitchd.yaml")
	if err := os.WriteFile(cfg, []byte("networks:\n  - name: svc\n    subnet: 10.231.7.0/24\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	d := &daemon{e: e, sock: filepath.Join(e.dir, "sock"), stateDir: filepath.Join(e.dir, "state"),
		logPath: filepath.Join(e.dir, "vswitchd-1.log"), done: make(chan struct{})}
	logf, err := os.Create(d.logPath)
	if err != nil {
		t.Fatal(err)
	}
	// ProtectSystem=full and ReadWritePaths=/etc/netns as systemd makes
	// them: a mount namespace of vswitchd's own, a slave of this one (it
	// receives the namespaces `ip netns add` mounts later), with /usr and
	// /etc read-only but /etc/netns. ExecStartPre=+ made /etc/netns first.
	// (PrivateTmp and ProtectHome are left out: the test's socket is in
	// /tmp.)
	if err := os.MkdirAll("/etc/netns", 0o755); err != nil {
		t.Fatal(err)
	}
	sandbox := `set -e
mount --bind /usr /usr; mount -o remount,bind,ro /usr
mount --bind /etc /etc; mount -o remount,bind,ro /etc
mount --bind /etc/netns /etc/netns; mount -o remount,bind,rw /etc/netns
exec "$@"`
	d.cmd = exec.Command("unshare", "--mount", "--propagation", "slave", "sh", "-c", sandbox, "sandbox",
		"setpriv", "--bounding-set", "-all,"+strings.Join(bset, ","), "--no-new-privs", "--inh-caps=-all",
		vswitchdBin, "--config", cfg, "--socket", d.sock, "--state-dir", d.stateDir, "--no-default-network",
		"--socket-group", group.name, "--log-level", "debug")
	d.cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+notify)
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logf.Close()
	e.daemons = append(e.daemons, d)
	go func() {
		d.waitErr = d.cmd.Wait()
		close(d.done)
	}()

	if got, want := next("READY=1"), "READY=1\nSTATUS=serving "+d.sock+": 1 networks"; got != want {
		t.Fatalf("systemd got %q, want %q", got, want)
	}
	// Ready means ready: the first request, not retried, is answered.
	var nets []network
	d.ctlJSON(&nets, "network", "ls")
	if len(nets) != 1 || nets[0].Name != "svc" {
		t.Fatalf("network ls right after READY=1: %+v, want the config's network svc", nets)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(d.sock, &st); err != nil {
		t.Fatal(err)
	}
	if st.Gid != group.gid || st.Mode&0o777 != 0o660 {
		t.Errorf("socket gid %d mode %o, want group %s (%d) and 0660: CAP_CHOWN of the unit", st.Gid, st.Mode&0o777, group.name, group.gid)
	}
	// After setup it has the seven capabilities it keeps, no more
	// (CAP_CHOWN, for the socket, is gone).
	if eff := procCaps(t, fmt.Sprintf("/proc/%d/status", d.cmd.Process.Pid))["CapEff"]; eff != keptCapMask {
		t.Errorf("CapEff %#x, want %#x (daemon.KeptCaps)", eff, keptCapMask)
	}

	// The sandbox is what it should be: /etc read-only, /etc/netns not.
	mnt := fmt.Sprintf("--mount=/proc/%d/ns/mnt", d.cmd.Process.Pid)
	if r := run(10*time.Second, "nsenter", mnt, "touch", "/etc/.vst-probe"); r.code == 0 || !strings.Contains(r.stderr, "Read-only file system") {
		os.Remove("/etc/.vst-probe")
		t.Fatalf("the emulated ProtectSystem=full lets /etc be written: %v", r)
	}
	probe := filepath.Join("/etc/netns", ".vst-probe-"+e.id)
	if r := run(10*time.Second, "nsenter", mnt, "touch", probe); r.code != 0 {
		t.Fatalf("/etc/netns not writable in the sandbox: %v", r)
	}
	os.Remove(probe)

	// A namespace made after vswitchd started, as containers are.
	ns := e.newNS("svc")
	p := d.addPort("svc", ns, "--name", "web1")
	e.mustPing(ns, "10.231.7.1")
	if out := e.mustNS(ns, "getent", "hosts", "web1"); !strings.HasPrefix(out, p.addr()+" ") {
		t.Errorf("getent hosts web1 in %s: %q, want %s (embedded DNS through /etc/netns/%s/resolv.conf)", ns, out, p.addr(), ns)
	}

	// systemctl reload: the unit's ExecReload as systemd would run it
	// (the unit's bounding set, no_new_privs, the mount sandbox), on this
	// test's socket. It waits for the outcome: a changed file is applied
	// and its change printed; a file the daemon refuses fails it (exit 1,
	// the wrong line), and nothing changes.
	reload := strings.Fields(strings.ReplaceAll(unit["ExecReload"], "/run/vswitch/vswitchd.sock", d.sock))
	if len(reload) < 2 || reload[0] != "/usr/bin/vswitchctl" {
		t.Fatalf("ExecReload=%q: want the packaged vswitchctl's reload", unit["ExecReload"])
	}
	reload[0] = vswitchctlBin
	sysReload := func() result {
		args := append([]string{"--mount=/proc/" + fmt.Sprint(d.cmd.Process.Pid) + "/ns/mnt", "setpriv", "--bounding-set", "-all," + strings.Join(bset, ","), "--no-new-privs", "--inh-caps=-all"}, reload...)
		return run(30*time.Second, "nsenter", args...)
	}
	if err := os.WriteFile(cfg, []byte("networks:\n  - name: svc\n    subnet: 10.231.7.0/24\n  - name: svc2\n    subnet: 10.231.8.0/24\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := sysReload(); r.code != 0 || !strings.Contains(r.stdout, "svc2") {
		t.Fatalf("ExecReload with a network added: %v", r)
	}
	if err := os.WriteFile(cfg, []byte("networks:\n  - name: svc\n    subnet: 10.231.9.0/24\n  - name: svc2\n    subnet: 10.231.8.0/24\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := sysReload(); r.code != 1 || !strings.Contains(r.stderr, "line 3") || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Fatalf("ExecReload with svc's subnet changed: %v, want exit 1 and one line naming line 3", r)
	}
	nets = nil
	d.ctlJSON(&nets, "network", "ls")
	if len(nets) != 2 || nets[0].Name != "svc" || nets[0].Subnet != "10.231.7.0/24" {
		t.Fatalf("network ls after the refused reload: %+v, want svc (10.231.7.0/24) and svc2 as they were", nets)
	}
	e.mustPing(ns, "10.231.7.1")

	d.cmd.Process.Signal(syscall.SIGTERM)
	if got := next("STOPPING=1"); !strings.HasPrefix(got, "STOPPING=1\nSTATUS=") {
		t.Errorf("at SIGTERM systemd got %q, want STOPPING=1", got)
	}
	select {
	case <-d.done:
	case <-time.After(15 * time.Second):
		t.Fatal("vswitchd still runs 15 s after SIGTERM")
	}
	if code := d.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("vswitchd exit %d after SIGTERM, want 0", code)
	}
}

// unitSettings reads a unit file's KEY=VALUE lines (the last one of a
// key wins, enough for the keys read here).
func unitSettings(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := map[string]string{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		l := strings.TrimSpace(s.Text())
		if k, v, ok := strings.Cut(l, "="); ok && l[0] != '#' && l[0] != ';' {
			u[k] = v
		}
	}
	return u
}

type groupID struct {
	name string
	gid  uint32
}

// findGroup returns the first of names that exists in /etc/group.
func findGroup(names ...string) (groupID, error) {
	b, err := os.ReadFile("/etc/group")
	if err != nil {
		return groupID{}, err
	}
	for _, n := range names {
		for _, l := range strings.Split(string(b), "\n") {
			f := strings.Split(l, ":")
			if len(f) >= 3 && f[0] == n {
				gid, err := strconv.ParseUint(f[2], 10, 32)
				if err == nil && gid != 0 {
					return groupID{n, uint32(gid)}, nil
				}
			}
		}
	}
	return groupID{}, fmt.Errorf("none of the groups %v exists: the test needs a group other than root", names)
}
