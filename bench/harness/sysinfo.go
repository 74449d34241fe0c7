package harness

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"vswitch/bench/report"
)

// machine describes the box: BENCH.md asks for nproc, kernel, Go version
// and CPU model next to every figure.
func (h *Harness) machine(ctx context.Context) report.Machine {
	m := report.Machine{NProc: runtime.NumCPU(), GoVersion: runtime.Version()}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		m.Kernel = unix.ByteSliceToString(u.Release[:])
		m.Hostname = unix.ByteSliceToString(u.Nodename[:])
	}
	if r := h.run(ctx, 30*time.Second, "", "go", "env", "GOVERSION"); r.Code == 0 {
		m.GoVersion = strings.TrimSpace(r.Stdout)
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "MemTotal:"); ok {
				if f := strings.Fields(v); len(f) > 0 {
					kb, _ := strconv.Atoi(f[0])
					m.MemTotalMB = kb / 1024
				}
			}
		}
	}
	_, err := os.Stat("/sys/module/br_netfilter")
	m.BrNetfilter = err == nil
	return m
}

// tools records the version of every tool a figure comes from.
func (h *Harness) tools(ctx context.Context) map[string]string {
	out := map[string]string{}
	for name, argv := range map[string][]string{
		"iperf3":   {"iperf3", "--version"},
		"sockperf": {"sockperf", "--version"},
		"iproute2": {"ip", "-V"},
		"iptables": {"iptables", "--version"},
	} {
		r := h.run(ctx, 10*time.Second, "", argv...)
		v := FirstLine(r.Stdout + "\n" + r.Stderr)
		if r.Code < 0 || v == "" {
			v = "missing: " + r.errorf(argv[0]).Error()
		}
		out[name] = v
	}
	if contains(h.cfg.Peers, report.SideOVS) {
		r := h.run(ctx, 10*time.Second, "", "ovs-vswitchd", "--version")
		if v := FirstLine(r.Stdout); r.Code == 0 && v != "" {
			out["ovs-vswitchd"] = v
		} else {
			out["ovs-vswitchd"] = "missing: " + r.errorf("ovs-vswitchd").Error()
		}
	}
	out["vsbench"] = runtime.Version() + " sendmmsg/recvmmsg generator, RST-close connection client"
	for _, b := range h.cfg.Bins {
		out[b.Side+"_binary"] = describeBinary(b.Daemon)
	}
	return out
}

// describeBinary names a vswitchd build: path, modification time and the
// start of its SHA-256, so two runs can tell whether they ran the same one.
func describeBinary(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return path + " (missing)"
	}
	defer f.Close()
	st, _ := f.Stat()
	sum := sha256.New()
	_, _ = io.Copy(sum, f)
	return path + " sha256:" + hex.EncodeToString(sum.Sum(nil))[:12] + " mtime:" + st.ModTime().UTC().Format(time.RFC3339)
}

// commit is the checked-out commit and whether tracked files differ. git
// is asked read-only (GIT_OPTIONAL_LOCKS=0: status does not refresh the
// index).
func (h *Harness) commit(ctx context.Context) (string, bool) {
	r := h.run(ctx, 10*time.Second, "", "git", "-C", h.cfg.Repo, "rev-parse", "--short=12", "HEAD")
	if r.Code != 0 {
		return "unknown (" + FirstLine(r.Stderr) + ")", false
	}
	c := strings.TrimSpace(r.Stdout)
	os.Setenv("GIT_OPTIONAL_LOCKS", "0")
	s := h.run(ctx, 30*time.Second, "", "git", "-C", h.cfg.Repo, "status", "--porcelain", "--untracked-files=no")
	return c, s.Code == 0 && strings.TrimSpace(s.Stdout) != ""
}
