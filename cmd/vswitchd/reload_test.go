package main

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vswitch/daemon"
)

// SIGHUP's reload tells systemd RELOADING=1 (with MONOTONIC_USEC) before
// and READY=1 after, refused or not, and logs what it did.
func TestReloadNotifiesSystemd(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "vs.yaml")
	os.WriteFile(cfg, []byte("networks:\n  - name: web\n    subnet: 10.10.0.0/24\n"), 0o644)
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	d, err := daemon.New(daemon.Options{StateDir: filepath.Join(dir, "state"), NoDefaultNetwork: true, Workers: 1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	c, err := daemon.LoadConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Apply(c); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	next := func() string {
		t.Helper()
		buf := make([]byte, 4096)
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("no message to systemd: %v", err)
		}
		return string(buf[:n])
	}

	os.WriteFile(cfg, []byte("networks:\n  - name: web\n    subnet: 10.10.0.0/24\n  - name: db\n    subnet: 10.20.0.0/24\n"), 0o644)
	reload(log, d)
	if m := next(); !strings.HasPrefix(m, "RELOADING=1\nMONOTONIC_USEC=") {
		t.Errorf("first message %q, want RELOADING=1 and MONOTONIC_USEC", m)
	}
	if m := next(); !strings.HasPrefix(m, "READY=1\n") || !strings.Contains(m, "STATUS=config "+cfg+" reloaded: 1 change(s)") {
		t.Errorf("second message %q, want READY=1 with the status", m)
	}
	if _, err := d.Network("db"); err != nil {
		t.Errorf("db not created: %v", err)
	}
	if !strings.Contains(logs.String(), "config reloaded") {
		t.Errorf("log: %s", logs.String())
	}

	// Refused: READY=1 all the same, the refusal in the status and the log.
	os.WriteFile(cfg, []byte("networks:\n  - name: web\n    subnet: 10.10.0.0/33\n"), 0o644)
	reload(log, d)
	next()
	if m := next(); !strings.HasPrefix(m, "READY=1\n") || !strings.Contains(m, "STATUS=reload refused: config "+cfg+" line 3") {
		t.Errorf("after a refused reload: %q", m)
	}
	if !strings.Contains(logs.String(), "reload refused; the running config stays") {
		t.Errorf("log: %s", logs.String())
	}
	if _, err := d.Network("db"); err != nil {
		t.Errorf("db went with a refused reload: %v", err)
	}
}
