package sdnotify

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fakeSystemd listens where $NOTIFY_SOCKET points, as systemd does for a
// Type=notify service, and returns what the next datagram said.
func fakeSystemd(t *testing.T, name string) func() string {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	t.Setenv("NOTIFY_SOCKET", name)
	return func() string {
		t.Helper()
		buf := make([]byte, 4096)
		// A deadline only so that a broken Send fails the test instead of
		// hanging it; nothing is measured.
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("fake systemd got nothing: %v", err)
		}
		return string(buf[:n])
	}
}

func TestSendToPath(t *testing.T) {
	next := fakeSystemd(t, filepath.Join(t.TempDir(), "notify"))
	for _, c := range []struct {
		send func() (bool, error)
		want string
	}{
		{func() (bool, error) { return Ready("") }, "READY=1"},
		{func() (bool, error) { return Ready("serving, 2 networks") }, "READY=1\nSTATUS=serving, 2 networks"},
		{func() (bool, error) { return Stopping("stopping on terminated") }, "STOPPING=1\nSTATUS=stopping on terminated"},
		{func() (bool, error) { return Status("two\nlines") }, "STATUS=two lines"},
		{func() (bool, error) { return Status("") }, "STATUS="},
	} {
		sent, err := c.send()
		if err != nil || !sent {
			t.Fatalf("sent %v, err %v; want sent", sent, err)
		}
		if got := next(); got != c.want {
			t.Errorf("systemd got %q, want %q", got, c.want)
		}
	}
}

// An abstract socket (a leading @ in $NOTIFY_SOCKET, as systemd uses in
// containers and user managers) has no file.
func TestSendToAbstract(t *testing.T) {
	name := fmt.Sprintf("@vswitch-sdnotify-test-%d", os.Getpid())
	next := fakeSystemd(t, name)
	if _, err := os.Stat(name); err == nil {
		t.Fatalf("a file %s exists: the socket should be abstract", name)
	}
	if sent, err := Ready("up"); err != nil || !sent {
		t.Fatalf("sent %v, err %v", sent, err)
	}
	if got := next(); got != "READY=1\nSTATUS=up" {
		t.Errorf("systemd got %q", got)
	}
}

// RELOADING=1 carries the monotonic clock in microseconds, as systemd
// compares it with its own CLOCK_MONOTONIC.
func TestReloading(t *testing.T) {
	next := fakeSystemd(t, filepath.Join(t.TempDir(), "notify"))
	var before unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &before)
	if sent, err := Reloading("reloading /etc/vswitch/vswitchd.yaml"); err != nil || !sent {
		t.Fatalf("sent %v, err %v", sent, err)
	}
	var after unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &after)
	lines := strings.Split(next(), "\n")
	if len(lines) != 3 || lines[0] != "RELOADING=1" || !strings.HasPrefix(lines[1], "MONOTONIC_USEC=") || lines[2] != "STATUS=reloading /etc/vswitch/vswitchd.yaml" {
		t.Fatalf("systemd got %q", lines)
	}
	usec, err := strconv.ParseInt(strings.TrimPrefix(lines[1], "MONOTONIC_USEC="), 10, 64)
	if err != nil {
		t.Fatalf("MONOTONIC_USEC not a number: %v", err)
	}
	lo, hi := before.Sec*1e6+before.Nsec/1e3, after.Sec*1e6+after.Nsec/1e3
	if usec < lo || usec > hi {
		t.Errorf("MONOTONIC_USEC=%d not between the clock before (%d) and after (%d)", usec, lo, hi)
	}
}

func TestNoSocket(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if sent, err := Ready(""); sent || err != nil {
		t.Errorf("without NOTIFY_SOCKET: sent %v, err %v; want nothing sent, no error", sent, err)
	}
}

func TestBadSocket(t *testing.T) {
	for _, c := range []struct{ env, says string }{
		{"vsock:2:1234", "want an absolute path or an abstract name"},
		{"relative/notify", "want an absolute path"},
		{filepath.Join(t.TempDir(), "nobody"), "cannot reach systemd's notify socket"},
	} {
		t.Setenv("NOTIFY_SOCKET", c.env)
		sent, err := Ready("")
		if sent || err == nil || !strings.Contains(err.Error(), c.says) || strings.Contains(err.Error(), "\n") {
			t.Errorf("NOTIFY_SOCKET=%q: sent %v, err %v; want one line saying %q", c.env, sent, err, c.says)
		}
	}
}
