package sdnotify

import (
	"fmt"
	"net"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// Send sends state, one or more KEY=VALUE lines, to $NOTIFY_SOCKET. It
// reports false with no error when the variable is unset: nobody listens.
func Send(state string) (bool, error) {
	name := os.Getenv("NOTIFY_SOCKET")
	if name == "" {
		return false, nil
	}
	// Only unix sockets: systemd also allows vsock (vsock:CID:PORT) for
	// virtual machines, which vswitchd's service never is.
	if !strings.HasPrefix(name, "/") && !strings.HasPrefix(name, "@") {
		return false, fmt.Errorf("NOTIFY_SOCKET %q: want an absolute path or an abstract name starting with @", name)
	}
	// Go's unix addresses read a leading '@' as the abstract namespace
	// (a NUL first byte), as systemd means it.
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		return false, fmt.Errorf("cannot reach systemd's notify socket %s: %v", name, err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(state)); err != nil {
		return false, fmt.Errorf("cannot notify systemd on %s: %v", name, err)
	}
	return true, nil
}

// Ready says the service serves: systemd ends `systemctl start` (and a
// reload) and starts the units ordered after it.
func Ready(status string) (bool, error) {
	return Send(withStatus("READY=1", status))
}

// Stopping says the service is shutting down on purpose.
func Stopping(status string) (bool, error) {
	return Send(withStatus("STOPPING=1", status))
}

// Reloading says the service is re-reading its configuration; Ready ends
// it. MONOTONIC_USEC, the CLOCK_MONOTONIC time of the message, is what
// systemd (253 and later) uses to tell this reload from an earlier one.
func Reloading(status string) (bool, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return false, fmt.Errorf("cannot read the monotonic clock: %v", err)
	}
	usec := ts.Sec*1_000_000 + ts.Nsec/1_000
	return Send(withStatus(fmt.Sprintf("RELOADING=1\nMONOTONIC_USEC=%d", usec), status))
}

// Status sets the line `systemctl status` shows.
func Status(status string) (bool, error) {
	return Send("STATUS=" + oneLine(status))
}

// withStatus appends STATUS=status to state. A status is one line (a
// newline would start another assignment): oneLine makes newlines spaces.
func withStatus(state, status string) string {
	if status == "" {
		return state
	}
	return state + "\nSTATUS=" + oneLine(status)
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }
