package packaging

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"vswitch/api"
	"vswitch/daemon"
)

// deb is the package built once for the tests of this file.
type deb struct {
	path string // the .deb
	root string // its files, unpacked with dpkg-deb -x
	bin  string // the binaries it was made from
}

var built *deb

// buildDeb builds the binaries as make build does (CGO_ENABLED=0, the
// version in the ldflags), then the package with packaging/mkdeb.sh, the
// script make deb runs, into a temporary directory.
func buildDeb(t *testing.T) *deb {
	t.Helper()
	if built != nil {
		return built
	}
	for _, c := range []struct{ cmd, pkg string }{{"dpkg-deb", "dpkg"}, {"bash", "bash"}} {
		if _, err := exec.LookPath(c.cmd); err != nil {
			t.Fatalf("%s missing: apt-get install %s", c.cmd, c.pkg)
		}
	}
	dir, err := os.MkdirTemp("", "vswitch-deb-")
	if err != nil {
		t.Fatal(err)
	}
	d := &deb{bin: filepath.Join(dir, "bin"), root: filepath.Join(dir, "root")}
	const version = "1.2.3-4-gabcdef"
	ld := "-X vswitch/daemon.Version=" + version + " -X main.version=" + version
	for _, b := range []string{"vswitchd", "vswitchctl", "vswitch-cni"} {
		cmd := exec.Command("go", "build", "-ldflags", ld, "-o", filepath.Join(d.bin, b), "./cmd/"+b)
		cmd.Dir = ".."
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", b, err, out)
		}
	}
	cmd := exec.Command("packaging/mkdeb.sh", version, filepath.Join(dir, "dist"))
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "BIN="+d.bin)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("mkdeb.sh: %v\n%s", err, stderrOf(err))
	}
	d.path = strings.TrimSpace(string(out))
	if want := "vswitch_1.2.3+4+gabcdef_" + arch(t) + ".deb"; filepath.Base(d.path) != want {
		t.Fatalf("mkdeb.sh made %q, want %s", d.path, want)
	}
	mustRun(t, "dpkg-deb", "-x", d.path, d.root)
	built = d
	return d
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built != nil {
		os.RemoveAll(filepath.Dir(built.bin))
	}
	os.Exit(code)
}

// dpkg-deb -c: the binaries, the unit, the completions, the config, the
// documents Debian policy wants, owned by root with the modes they need.
func TestPackageContents(t *testing.T) {
	d := buildDeb(t)
	list := mustRun(t, "dpkg-deb", "-c", d.path)
	files := map[string]string{} // path -> "mode owner"
	for _, l := range strings.Split(strings.TrimSpace(list), "\n") {
		f := strings.Fields(l)
		if len(f) < 6 {
			t.Fatalf("dpkg-deb -c line %q", l)
		}
		files[strings.TrimPrefix(f[5], ".")] = f[0] + " " + f[1]
	}
	for path, want := range map[string]string{
		"/usr/sbin/vswitchd":                                   "-rwxr-xr-x root/root",
		"/usr/bin/vswitchctl":                                  "-rwxr-xr-x root/root",
		"/usr/lib/cni/vswitch-cni":                             "-rwxr-xr-x root/root",
		"/lib/systemd/system/vswitchd.service":                 "-rw-r--r-- root/root",
		"/etc/vswitch/vswitchd.yaml":                           "-rw-r--r-- root/root",
		"/etc/default/vswitchd":                                "-rw-r--r-- root/root",
		"/usr/share/bash-completion/completions/vswitchctl":    "-rw-r--r-- root/root",
		"/usr/share/zsh/vendor-completions/_vswitchctl":        "-rw-r--r-- root/root",
		"/usr/share/fish/vendor_completions.d/vswitchctl.fish": "-rw-r--r-- root/root",
		"/usr/share/doc/vswitch/copyright":                     "-rw-r--r-- root/root",
		"/usr/share/doc/vswitch/changelog.Debian.gz":           "-rw-r--r-- root/root",
		"/usr/share/doc/vswitch/operators.md":                  "-rw-r--r-- root/root",
		"/usr/share/man/man8/vswitchd.8.gz":                    "-rw-r--r-- root/root",
		"/usr/share/man/man1/vswitchctl.1.gz":                  "-rw-r--r-- root/root",
		"/usr/share/man/man1/vswitchctl-port-add.1.gz":         "-rw-r--r-- root/root",
	} {
		if got, ok := files[path]; !ok {
			t.Errorf("the package has no %s", path)
		} else if got != want {
			t.Errorf("%s: %s, want %s", path, got, want)
		}
	}
	for path, mode := range files {
		if !strings.HasSuffix(path, "/") && !strings.HasSuffix(mode, "root/root") {
			t.Errorf("%s is owned by %s, want root/root (--root-owner-group)", path, mode)
		}
	}
	// The packaged binaries are the ones built, not stale copies.
	for _, c := range [][2]string{{"vswitchd", "usr/sbin/vswitchd"}, {"vswitchctl", "usr/bin/vswitchctl"}, {"vswitch-cni", "usr/lib/cni/vswitch-cni"}} {
		a, _ := os.ReadFile(filepath.Join(d.bin, c[0]))
		b, _ := os.ReadFile(filepath.Join(d.root, c[1]))
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Errorf("/%s is not the %s built", c[1], c[0])
		}
	}
	// Its first line even with no daemon to ask (exit 1 then).
	out, _ := exec.Command(filepath.Join(d.root, "usr/bin/vswitchctl"), "--socket", filepath.Join(d.root, "none.sock"), "version").Output()
	if !strings.HasPrefix(string(out), "client: vswitchctl 1.2.3-4-gabcdef ") {
		t.Errorf("packaged vswitchctl version: %q", out)
	}
}

// dpkg-deb -I and -f: the control fields apt and dpkg use, and the
// config files dpkg keeps on upgrade.
func TestPackageControl(t *testing.T) {
	d := buildDeb(t)
	for field, want := range map[string]string{
		"Package":      "vswitch",
		"Version":      "1.2.3+4+gabcdef",
		"Architecture": arch(t),
		"Depends":      "iproute2",
		"Section":      "net",
		"Priority":     "optional",
	} {
		if got := strings.TrimSpace(mustRun(t, "dpkg-deb", "-f", d.path, field)); got != want {
			t.Errorf("control %s: %q, want %q", field, got, want)
		}
	}
	if m := strings.TrimSpace(mustRun(t, "dpkg-deb", "-f", d.path, "Maintainer")); !regexp.MustCompile(`^.+ <[^>]+@[^>]+>$`).MatchString(m) {
		t.Errorf("Maintainer %q: want NAME <EMAIL>", m)
	}
	if s := strings.TrimSpace(mustRun(t, "dpkg-deb", "-f", d.path, "Installed-Size")); !regexp.MustCompile(`^[1-9][0-9]{3,}$`).MatchString(s) {
		t.Errorf("Installed-Size %q: want the KiB of the binaries", s)
	}
	info := mustRun(t, "dpkg-deb", "-I", d.path)
	for _, s := range []string{"conffiles", "postinst", "prerm", "postrm", "Description: userspace virtual switch"} {
		if !strings.Contains(info, s) {
			t.Errorf("dpkg-deb -I has no %q:\n%s", s, info)
		}
	}
	ctl := filepath.Join(t.TempDir(), "DEBIAN")
	mustRun(t, "dpkg-deb", "-e", d.path, ctl)
	conf, _ := os.ReadFile(filepath.Join(ctl, "conffiles"))
	if got := strings.Fields(string(conf)); !slices.Equal(got, []string{"/etc/default/vswitchd", "/etc/vswitch/vswitchd.yaml"}) {
		t.Errorf("conffiles %q", got)
	}
	for _, s := range []string{"postinst", "prerm", "postrm"} {
		mustRun(t, "sh", "-n", filepath.Join(ctl, s))
	}
}

// systemd-analyze verify accepts the unit. It checks that the programs of
// ExecStart and ExecReload exist, so it reads a copy whose /usr/sbin/vswitchd
// and /usr/bin/vswitchctl are the unpacked ones; every other line is the
// packaged unit's.
func TestUnitVerifies(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Fatal("systemd-analyze missing: apt-get install systemd")
	}
	d := buildDeb(t)
	unit, err := os.ReadFile(filepath.Join(d.root, "lib/systemd/system/vswitchd.service"))
	if err != nil {
		t.Fatal(err)
	}
	verify := func(text string) (string, error) {
		dir := t.TempDir()
		p := filepath.Join(dir, "vswitchd.service")
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("systemd-analyze", "verify", p).CombinedOutput()
		return string(out), err
	}
	copyText := strings.ReplaceAll(string(unit), "/usr/sbin/vswitchd", filepath.Join(d.root, "usr/sbin/vswitchd"))
	copyText = strings.ReplaceAll(copyText, "/usr/bin/vswitchctl", filepath.Join(d.root, "usr/bin/vswitchctl"))
	// systemd-analyze exits 0 on a key it cannot parse, saying so: the
	// unit verifies when it says nothing at all.
	if out, err := verify(copyText); err != nil || out != "" {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	// And it does say something on a mistake (this check can fail).
	if out, _ := verify(strings.Replace(copyText, "Restart=on-failure", "Restart=sometimes", 1)); !strings.Contains(out, "sometimes") {
		t.Errorf("systemd-analyze verify is silent on Restart=sometimes: %q", out)
	}
}

// What the unit promises an operator, read from the packaged file.
func TestUnitSettings(t *testing.T) {
	d := buildDeb(t)
	u := readUnit(t, filepath.Join(d.root, "lib/systemd/system/vswitchd.service"))
	for key, want := range map[string]string{
		"Type":                    "notify",
		"Restart":                 "on-failure",
		"StateDirectory":          "vswitch",
		"RuntimeDirectory":        strings.TrimPrefix(filepath.Dir(api.DefaultSocket), "/run/"),
		"NoNewPrivileges":         "yes",
		"ProtectSystem":           "full",
		"ReadWritePaths":          "/etc/netns",
		"WantedBy":                "multi-user.target",
		"ExecStartPre":            "+/bin/mkdir -p /etc/netns",
		"SystemCallErrorNumber":   "EPERM",
		"SystemCallArchitectures": "native",
	} {
		if got := u[key]; len(got) != 1 || got[0] != want {
			t.Errorf("%s=%q, want %q", key, got, want)
		}
	}
	// The seven vswitchd keeps, and CAP_CHOWN for the socket's group at
	// setup; in any order.
	caps := strings.Fields(strings.Join(u["CapabilityBoundingSet"], " "))
	want := append(keptCaps(), "CAP_CHOWN")
	slices.Sort(caps)
	slices.Sort(want)
	if !slices.Equal(caps, want) {
		t.Errorf("CapabilityBoundingSet=%q, want %q", caps, want)
	}
	start := u["ExecStart"]
	if len(start) != 1 {
		t.Fatalf("ExecStart %q", start)
	}
	for _, f := range []string{"--config /etc/vswitch/vswitchd.yaml", "--state-dir /var/lib/vswitch", "--socket " + api.DefaultSocket, "$VSWITCHD_OPTS"} {
		if !strings.Contains(start[0], f) {
			t.Errorf("ExecStart %q lacks %q", start[0], f)
		}
	}
	if !strings.HasPrefix(start[0], "/usr/sbin/vswitchd ") {
		t.Errorf("ExecStart %q does not run /usr/sbin/vswitchd", start[0])
	}
	// Reload: the file is checked, then vswitchd gets SIGHUP.
	if got := u["ExecReload"]; !slices.Equal(got, []string{"/usr/bin/vswitchctl --socket /run/vswitch/vswitchd.sock reload"}) {
		t.Errorf("ExecReload %q", got)
	}
	// No capability beyond the bounding set is handed out.
	if a, ok := u["AmbientCapabilities"]; ok {
		t.Errorf("AmbientCapabilities=%q: vswitchd runs as root and needs none", a)
	}
}

// The default config is accepted by vswitchd (--check-config), and so is
// the example it carries in comments once uncommented.
func TestDefaultConfig(t *testing.T) {
	d := buildDeb(t)
	vswitchd := filepath.Join(d.root, "usr/sbin/vswitchd")
	conf := filepath.Join(d.root, "etc/vswitch/vswitchd.yaml")
	if out := mustRun(t, vswitchd, "--check-config", conf); !strings.Contains(out, "is valid: 0 networks") {
		t.Errorf("--check-config of the default config: %q", out)
	}
	text, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	var ex strings.Builder
	for _, l := range strings.Split(string(text), "\n") {
		if strings.HasPrefix(l, "#") && !strings.HasPrefix(l, "##") {
			ex.WriteString(strings.TrimPrefix(l, "#") + "\n")
		}
	}
	p := filepath.Join(t.TempDir(), "example.yaml")
	if err := os.WriteFile(p, []byte(ex.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := mustRun(t, vswitchd, "--check-config", p); !strings.Contains(out, "is valid: 2 networks, 1 ports, 0 attached, 1 published, 1 ACL rules") {
		t.Errorf("--check-config of the uncommented example: %q", out)
	}
}

// The packaged completion scripts are vswitchctl's and parse.
func TestPackagedCompletions(t *testing.T) {
	d := buildDeb(t)
	for shell, path := range map[string]string{
		"bash": "usr/share/bash-completion/completions/vswitchctl",
		"zsh":  "usr/share/zsh/vendor-completions/_vswitchctl",
		"fish": "usr/share/fish/vendor_completions.d/vswitchctl.fish",
	} {
		f := filepath.Join(d.root, path)
		got, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		want := mustRun(t, filepath.Join(d.bin, "vswitchctl"), "completion", shell)
		if string(got) != want {
			t.Errorf("/%s is not what vswitchctl completion %s prints", path, shell)
		}
		if _, err := exec.LookPath(shell); err != nil {
			if shell == "bash" {
				t.Fatal("no bash")
			}
			t.Logf("%s not installed: /%s not parsed", shell, path)
			continue
		}
		mustRun(t, shell, "-n", f)
	}
}

// The packaged manual pages are the binaries' own, one per command, and
// man(1) reads them without a warning.
func TestPackagedManPages(t *testing.T) {
	d := buildDeb(t)
	pages, _ := filepath.Glob(filepath.Join(d.root, "usr/share/man/man1/vswitchctl*.1.gz"))
	fresh := t.TempDir()
	cmd := exec.Command(filepath.Join(d.bin, "vswitchctl"), "man", fresh)
	cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("vswitchctl man: %v: %s", err, out)
	}
	want, _ := filepath.Glob(filepath.Join(fresh, "*.1"))
	if len(pages) != len(want) || len(pages) < 40 {
		t.Fatalf("the package has %d vswitchctl pages, vswitchctl man writes %d", len(pages), len(want))
	}
	pages = append(pages, filepath.Join(d.root, "usr/share/man/man8/vswitchd.8.gz"))
	for _, p := range pages {
		c := exec.Command("man", "--warnings", "-l", p)
		c.Env = append(os.Environ(), "MANPAGER=cat", "MANWIDTH=100")
		var o, e bytes.Buffer
		c.Stdout, c.Stderr = &o, &e
		if err := c.Run(); err != nil || e.Len() > 0 || o.Len() < 300 {
			t.Errorf("man -l %s: %v, %d bytes, warnings: %s", filepath.Base(p), err, o.Len(), e.String())
		}
	}
}

// The maintainer scripts, run where systemd is not running (as here): the
// postinst enables the unit through deb-systemd-helper and starts nothing;
// the prerm stops nothing. The helpers are stand-ins that record their
// arguments (the real ones would change this machine's /etc/systemd).
func TestMaintainerScriptsWithoutSystemd(t *testing.T) {
	if _, err := os.Stat("/run/systemd/system"); err == nil {
		t.Skip("systemd runs here: the scripts would start the service; not run")
	}
	d := buildDeb(t)
	ctl := filepath.Join(t.TempDir(), "DEBIAN")
	mustRun(t, "dpkg-deb", "-e", d.path, ctl)
	shims := t.TempDir()
	calls := filepath.Join(shims, "calls")
	for _, name := range []string{"deb-systemd-helper", "deb-systemd-invoke", "systemctl"} {
		script := "#!/bin/sh\necho \"" + name + " $*\" >>" + calls + "\n"
		if name == "deb-systemd-helper" {
			// INSTALLED/ENABLED say what the stand-in answers: whether the
			// unit was installed before, and enabled then.
			script += "[ \"$1\" = debian-installed ] && exit ${INSTALLED:-1}\n" +
				"[ \"$1\" = --quiet ] && [ \"$2\" = was-enabled ] && exit ${ENABLED:-1}\n"
		}
		if err := os.WriteFile(filepath.Join(shims, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var answers []string // INSTALLED=, ENABLED= for the stand-in
	runScript := func(args ...string) []string {
		t.Helper()
		os.Remove(calls)
		cmd := exec.Command("sh", append([]string{filepath.Join(ctl, args[0])}, args[1:]...)...)
		cmd.Env = append(append(os.Environ(), "PATH="+shims+":/usr/sbin:/usr/bin:/sbin:/bin"), answers...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
		b, _ := os.ReadFile(calls)
		return strings.Split(strings.TrimSpace(string(b)), "\n")
	}
	// A first install enables the unit.
	got := runScript("postinst", "configure")
	want := []string{"deb-systemd-helper unmask vswitchd.service", "deb-systemd-helper debian-installed vswitchd.service", "deb-systemd-helper enable vswitchd.service"}
	if !slices.Equal(got, want) {
		t.Errorf("postinst configure (first install) called %q, want %q (and no systemctl: systemd does not run)", got, want)
	}
	// An upgrade keeps it enabled, or disabled when the admin disabled it.
	answers = []string{"INSTALLED=0", "ENABLED=0"}
	got = runScript("postinst", "configure", "0.1")
	want = []string{"deb-systemd-helper unmask vswitchd.service", "deb-systemd-helper debian-installed vswitchd.service",
		"deb-systemd-helper --quiet was-enabled vswitchd.service", "deb-systemd-helper enable vswitchd.service"}
	if !slices.Equal(got, want) {
		t.Errorf("postinst configure (upgrade, enabled) called %q, want %q", got, want)
	}
	answers = []string{"INSTALLED=0", "ENABLED=1"}
	got = runScript("postinst", "configure", "0.1")
	want[3] = "deb-systemd-helper update-state vswitchd.service"
	if !slices.Equal(got, want) {
		t.Errorf("postinst configure (upgrade, disabled) called %q, want %q", got, want)
	}
	answers = nil
	if got := runScript("prerm", "remove"); !slices.Equal(got, []string{""}) {
		t.Errorf("prerm remove called %q, want nothing", got)
	}
	if got := runScript("postrm", "remove"); !slices.Equal(got, []string{"deb-systemd-helper mask vswitchd.service"}) {
		t.Errorf("postrm remove called %q", got)
	}
}

// keptCaps are the capabilities vswitchd keeps (daemon.KeptCaps) as the
// unit names them.
func keptCaps() []string {
	var c []string
	for _, k := range daemon.KeptCaps {
		c = append(c, strings.ToUpper(k.Name))
	}
	return c
}

// readUnit reads a unit file's assignments, KEY -> values in order (an
// empty assignment resets, as in systemd).
func readUnit(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := map[string][]string{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		l := strings.TrimSpace(s.Text())
		if l == "" || l[0] == '#' || l[0] == ';' || l[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			t.Fatalf("%s: line %q", path, l)
		}
		if v == "" {
			delete(u, k)
			continue
		}
		u[k] = append(u[k], v)
	}
	return u
}

func arch(t *testing.T) string {
	return strings.TrimSpace(mustRun(t, "dpkg", "--print-architecture"))
}

func mustRun(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderrOf(err))
	}
	return string(out)
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}

// The operator's guide's config reference names every key LoadConfig
// accepts (daemon.Config, by the JSON names the file uses): a key added
// to the config and not to docs/operators.md fails here.
func TestOperatorsGuideListsEveryConfigKey(t *testing.T) {
	b, err := os.ReadFile("../docs/operators.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	start := strings.Index(doc, "\n## Config file")
	if start < 0 {
		t.Fatal("docs/operators.md has no '## Config file' section")
	}
	sec := doc[start+1:]
	if end := strings.Index(sec, "\n## "); end >= 0 {
		sec = sec[:end]
	}
	rows := strings.Split(sec, "\n")
	// documented: `path` itself appears, or the row of its parent
	// (`attach` for attach[].dev) names `leaf`.
	documented := func(parent, leaf, path string) bool {
		if strings.Contains(sec, "`"+path+"`") {
			return true
		}
		for _, r := range rows {
			if strings.HasPrefix(r, "| `"+strings.TrimSuffix(parent, "[]")+"`") && strings.Contains(r, "`"+leaf+"`") {
				return true
			}
		}
		return false
	}
	var walk func(t reflect.Type, parent string)
	walk = func(typ reflect.Type, parent string) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct {
			return
		}
		for i := range typ.NumField() {
			f := typ.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if !f.IsExported() || name == "" || name == "-" {
				continue
			}
			path := name
			if parent != "" {
				path = parent + "." + name
			}
			if !documented(parent, name, path) {
				t.Errorf("docs/operators.md, Config file: no key %s", path)
			}
			ft := f.Type
			list := ft.Kind() == reflect.Slice
			for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice {
				ft = ft.Elem()
			}
			if list && ft.Kind() == reflect.Struct {
				path += "[]"
			}
			walk(f.Type, path)
		}
	}
	walk(reflect.TypeOf(daemon.Config{}), "")
}

// The Debian version from what git describe gives: a release tag is
// kept, anything else (an untagged tree's bare commit, which may well
// start with a digit) becomes 0~gitDATE.COMMIT, below every release.
func TestPackageVersion(t *testing.T) {
	d := buildDeb(t)
	for _, c := range []struct{ describe, want string }{
		{"v1.4.0-2-g1234abc-dirty", `1\.4\.0\+2\+g1234abc\+dirty`},
		{"9987772-dirty", `0~git\d{14}\.9987772\.dirty`},
	} {
		cmd := exec.Command("packaging/mkdeb.sh", c.describe, t.TempDir())
		cmd.Dir = ".."
		// Uncompressed: only the control fields are read, and xz takes
		// most of a build's time.
		cmd.Env = append(os.Environ(), "BIN="+d.bin, "DEB_COMPRESS=none")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("mkdeb.sh %s: %v\n%s", c.describe, err, stderrOf(err))
		}
		got := strings.TrimSpace(mustRun(t, "dpkg-deb", "-f", strings.TrimSpace(string(out)), "Version"))
		if !regexp.MustCompile("^" + c.want + "$").MatchString(got) {
			t.Errorf("git describe %s: Debian version %q, want %s", c.describe, got, c.want)
		}
	}
	// And they sort as they should: a snapshot below the release.
	if err := exec.Command("dpkg", "--compare-versions", "0~git20261203144913.9987772", "lt", "1.4.0").Run(); err != nil {
		t.Errorf("dpkg sorts a snapshot above a release")
	}
}
