package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// capbed is two namespaces on one network, c1 having pinged c2 once so the
// neighbours are known.
type capbed struct {
	e      *env
	d      *daemon
	ns     [2]string
	p      [2]port
	dir    string
	tcpdmp string
}

func newCapbed(t *testing.T) *capbed {
	t.Helper()
	if !haveCmd("tcpdump") {
		t.Skip("needs tcpdump (apt-get install tcpdump)")
	}
	e := newEnv(t)
	d := e.startDaemon("")
	d.mustCtl("network", "create", "lan", "--subnet", "10.203.0.0/24")
	cb := &capbed{e: e, d: d, dir: e.dir}
	for i, role := range []string{"c1", "c2"} {
		cb.ns[i] = e.newNS(role)
		cb.p[i] = d.addPort("lan", cb.ns[i])
	}
	e.mustPing(cb.ns[0], cb.p[1].addr())
	return cb
}

// startCapture runs `vswitchctl capture ARGS...` in the background.
func (cb *capbed) startCapture(args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	cb.e.t.Helper()
	cmd := exec.Command(vswitchctlBin, append([]string{"--socket", cb.d.sock, "capture"}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		cb.e.t.Fatal(err)
	}
	cb.e.procs = append(cb.e.procs, cmd)
	return cmd, &out, &errb
}

// waitFile waits until the capture wrote its pcapng header to path: the
// capture is then installed on the port.
func (cb *capbed) waitFile(path string) {
	cb.e.t.Helper()
	for range 100 {
		if st, err := os.Stat(path); err == nil && st.Size() > 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	cb.e.t.Fatalf("capture did not start writing %s within 5 s", path)
}

func waitCmd(t *testing.T, cmd *exec.Cmd, timeout time.Duration, what string) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("%s did not end within %v", what, timeout)
	}
}

// tcpdumpRead reads a capture file with tcpdump -n (extra flags first) and
// returns its packet lines.
func tcpdumpRead(t *testing.T, path string, extra ...string) []string {
	t.Helper()
	r := run(20*time.Second, "tcpdump", append(extra, "-n", "-r", path)...)
	if r.code != 0 {
		t.Fatalf("tcpdump cannot read the capture:\n%v", r)
	}
	return nonEmptyLines(r.stdout)
}

func nonEmptyLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}

// A capture of a ping, written to a file with --count, opens in tcpdump
// with the echo requests from c1 to c2 and the replies back, and holds
// exactly --count packets.
func TestCapturePingFileTcpdump(t *testing.T) {
	cb := newCapbed(t)
	path := filepath.Join(cb.dir, "ping.pcapng")
	cmd, _, errb := cb.startCapture(cb.p[0].Name, "-w", path, "--count", "6")
	cb.waitFile(path)
	if r := cb.e.ping(cb.ns[0], cb.p[1].addr(), 5); r.code != 0 {
		t.Fatalf("ping during the capture: %v", r)
	}
	waitCmd(t, cmd, 10*time.Second, "capture --count 6")
	if !strings.Contains(errb.String(), "6 packets captured") {
		t.Errorf("capture said %q, want \"6 packets captured\"", errb.String())
	}
	lines := tcpdumpRead(t, path)
	t.Logf("tcpdump -n -r:\n%s", strings.Join(lines, "\n"))
	if len(lines) != 6 {
		t.Errorf("tcpdump read %d packets, want 6 (--count 6)", len(lines))
	}
	a, b := cb.p[0].addr(), cb.p[1].addr()
	req := fmt.Sprintf("IP %s > %s: ICMP echo request", a, b)
	rep := fmt.Sprintf("IP %s > %s: ICMP echo reply", b, a)
	var nreq, nrep int
	for _, l := range lines {
		nreq += strings.Count(l, req)
		nrep += strings.Count(l, rep)
	}
	if nreq < 2 || nrep < 2 {
		t.Errorf("capture has %d %q and %d %q, want at least 2 of each", nreq, req, nrep, rep)
	}
}

// `capture PORT -w - | tcpdump -r -` works, and without -w each packet is
// one line with its direction seen from the port: the request inbound, the
// reply outbound.
func TestCapturePipeAndSummary(t *testing.T) {
	cb := newCapbed(t)
	a, b := cb.p[0].addr(), cb.p[1].addr()
	cb.e.startInNS(cb.ns[0], "ping", "-n", "-i", "0.2", "-c", "60", b)

	pipe := fmt.Sprintf("%s --socket %s capture %s -w - --count 4 | tcpdump -n -r -", vswitchctlBin, cb.d.sock, cb.p[1].Name)
	r := run(20*time.Second, "sh", "-c", pipe)
	if r.code != 0 {
		t.Fatalf("%s:\n%v", pipe, r)
	}
	lines := nonEmptyLines(r.stdout)
	t.Logf("%s:\n%s", pipe, r.stdout)
	if len(lines) != 4 {
		t.Errorf("tcpdump -r - read %d packets, want 4", len(lines))
	}
	for _, l := range lines {
		if !strings.Contains(l, "ICMP echo") {
			t.Errorf("not a ping packet in the pipe: %s", l)
		}
	}

	r = cb.d.ctl("capture", cb.p[0].Name, "--count", "4")
	if r.code != 0 {
		t.Fatalf("%v", r)
	}
	t.Logf("capture %s --count 4:\n%s", cb.p[0].Name, r.stdout)
	lines = nonEmptyLines(r.stdout)
	if len(lines) != 4 {
		t.Errorf("capture --count 4 printed %d lines, want 4", len(lines))
	}
	var in, out int
	for _, l := range lines {
		switch {
		case strings.Contains(l, " in  ") && strings.Contains(l, fmt.Sprintf("IP %s > %s: ICMP echo request", a, b)):
			in++
		case strings.Contains(l, " out ") && strings.Contains(l, fmt.Sprintf("IP %s > %s: ICMP echo reply", b, a)):
			out++
		}
	}
	if in == 0 || out == 0 {
		t.Errorf("want inbound requests and outbound replies on %s, got %d and %d", cb.p[0].Name, in, out)
	}

	// One capture per port at a time, and a clear error for a missing port.
	if r := cb.d.ctl("capture", "nosuchport"); r.code != 1 || !strings.Contains(r.stderr, "no port nosuchport") {
		t.Errorf("capture of a missing port: %v", r)
	}
}

// Ctrl-C ends a capture with no --count cleanly: exit 0 and a file tcpdump
// reads whole.
func TestCaptureInterruptValidFile(t *testing.T) {
	cb := newCapbed(t)
	path := filepath.Join(cb.dir, "int.pcapng")
	cmd, _, errb := cb.startCapture(cb.p[0].Name, "-w", path)
	cb.waitFile(path)
	cb.e.mustPing(cb.ns[0], cb.p[1].addr())
	time.Sleep(300 * time.Millisecond)
	t0 := time.Now()
	_ = cmd.Process.Signal(syscall.SIGINT)
	waitCmd(t, cmd, 5*time.Second, "capture after SIGINT")
	t.Logf("capture ended %v after SIGINT", time.Since(t0).Round(time.Millisecond))
	lines := tcpdumpRead(t, path)
	if len(lines) < 4 {
		t.Errorf("tcpdump read %d packets after Ctrl-C, want the 2 pings' 4: %q (stderr %q)", len(lines), lines, errb.String())
	}
	// The port is free again: a new capture starts.
	cb.e.startInNS(cb.ns[0], "ping", "-n", "-i", "0.2", "-c", "25", cb.p[1].addr())
	if r := cb.d.ctl("capture", cb.p[0].Name, "--count", "1"); r.code != 0 {
		t.Errorf("capture after the interrupted one: %v", r)
	}
}

// A capture on a port carrying iperf3 TCP (GSO super-frames inside
// vswitchd) holds packets no longer than MTU+14 bytes, as a wire would:
// the super-frames are written as their segments.
func TestCaptureGSOSegments(t *testing.T) {
	cb := newCapbed(t)
	path := filepath.Join(cb.dir, "gso.pcapng")
	before := cb.d.stats()[cb.p[0].Name]
	cmd, _, errb := cb.startCapture(cb.p[0].Name, "-w", path, "--count", "3000")
	cb.waitFile(path)
	cb.e.iperf(cb.ns[0], cb.ns[1], cb.p[1].addr(), 2)
	after := cb.d.stats()[cb.p[0].Name]
	_ = cmd.Process.Signal(syscall.SIGINT)
	waitCmd(t, cmd, 10*time.Second, "capture during iperf3")
	if after.RxGSO == before.RxGSO {
		t.Fatalf("no GSO super-frame crossed %s during iperf3 (rx_gso_packets %d): nothing to segment", cb.p[0].Name, after.RxGSO)
	}
	lines := tcpdumpRead(t, path, "-e")
	lenRE := regexp.MustCompile(`, length (\d+): `)
	var n, big, maxLen int
	for _, l := range lines {
		m := lenRE.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		v, _ := strconv.Atoi(m[1])
		n++
		maxLen = max(maxLen, v)
		if v > 1500+14 {
			big++
		}
	}
	t.Logf("%d packets (%s), longest %d bytes; rx_gso_packets +%d", n, strings.TrimSpace(errb.String()), maxLen, after.RxGSO-before.RxGSO)
	if n < 100 {
		t.Fatalf("only %d packets with a length in the capture of iperf3", n)
	}
	if big > 0 {
		t.Errorf("%d of %d packets are longer than MTU+14 (longest %d): GSO super-frames not segmented", big, n, maxLen)
	}
	if maxLen < 1400 {
		t.Errorf("longest packet %d bytes: the bulk segments are missing", maxLen)
	}
}

// vswitchd stopping ends a running capture at once (not after the API
// server's 5 s shutdown timeout), and the client's file is whole.
func TestCaptureEndsWithDaemon(t *testing.T) {
	cb := newCapbed(t)
	path := filepath.Join(cb.dir, "stop.pcapng")
	cmd, _, errb := cb.startCapture(cb.p[0].Name, "-w", path)
	cb.waitFile(path)
	cb.e.mustPing(cb.ns[0], cb.p[1].addr())
	t0 := time.Now()
	if code := cb.d.stop(); code != 0 {
		t.Errorf("vswitchd exit status %d", code)
	}
	if dt := time.Since(t0); dt > 3*time.Second {
		t.Errorf("vswitchd took %v to stop with a capture running, want < 3 s", dt.Round(time.Millisecond))
	}
	waitCmd(t, cmd, 5*time.Second, "capture after vswitchd stopped")
	if lines := tcpdumpRead(t, path); len(lines) < 4 {
		t.Errorf("tcpdump read %d packets, want the 2 pings' 4 (stderr %q)", len(lines), errb.String())
	}
}
