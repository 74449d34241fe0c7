// Package netns runs code inside another network namespace and resolves the
// names users give for namespaces. It is one of the two places (with
// dataplane/port) that talk to the OS about namespaces.
//
// Why a locked thread: setns(2) changes the calling thread only, and a
// socket or /dev/net/tun file takes the namespace of the thread that opens
// it. So the work runs on a fresh goroutine locked to its OS thread; if
// switching back fails, the thread stays locked and the runtime throws it
// away when the goroutine ends, so no other goroutine ever runs in the wrong
// namespace.
package netns

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// RunDir is where `ip netns add` puts named namespaces.
const RunDir = "/run/netns"

// Path turns what a user typed (a name under /run/netns, or a path such as
// /proc/PID/ns/net) into a path, checking that it is a network namespace.
func Path(ns string) (string, error) {
	if ns == "" {
		return "", errors.New("no namespace given: pass --netns NAME (from 'ip netns list') or a path like /proc/PID/ns/net")
	}
	p := ns
	if !strings.Contains(ns, "/") {
		p = filepath.Join(RunDir, ns)
	}
	h, err := netns.GetFromPath(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("namespace %q does not exist: create it with 'ip netns add %s' or give a path like /proc/PID/ns/net", ns, ns)
		}
		return "", fmt.Errorf("cannot open namespace %q: %v", ns, err)
	}
	h.Close()
	return p, nil
}

// Exists reports whether the namespace at path can still be opened.
func Exists(path string) bool {
	h, err := netns.GetFromPath(path)
	if err != nil {
		return false
	}
	h.Close()
	return true
}

// ShortName is a name for the namespace fit for a port name: the name under
// /run/netns, "pidN" for /proc/N/ns/net, else the path's base name.
func ShortName(ns string) string {
	if !strings.Contains(ns, "/") {
		return ns
	}
	parts := strings.Split(strings.Trim(ns, "/"), "/")
	if len(parts) == 4 && parts[0] == "proc" && parts[2] == "ns" {
		return "pid" + parts[1]
	}
	return filepath.Base(ns)
}

// Do runs fn on an OS thread that is inside the namespace at path; an empty
// path means vswitchd's own namespace.
func Do(path string, fn func() error) error {
	if path == "" {
		return fn()
	}
	target, err := netns.GetFromPath(path)
	if err != nil {
		return fmt.Errorf("cannot open namespace %s: %v", path, err)
	}
	defer target.Close()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- fmt.Errorf("cannot read the current namespace: %v", err)
			return
		}
		defer orig.Close()
		if err := netns.Set(target); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("cannot enter namespace %s: %v", path, err)
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err == nil {
			// Back home: the thread may serve other goroutines again.
			runtime.UnlockOSThread()
		}
		errc <- ferr
	}()
	return <-errc
}

// Handle returns a netlink handle that acts inside the namespace at path.
// An empty path means vswitchd's own namespace. The caller closes it.
func Handle(path string) (*netlink.Handle, error) {
	if path == "" {
		return netlink.NewHandle()
	}
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return nil, fmt.Errorf("cannot open namespace %s: %v", path, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return nil, fmt.Errorf("cannot talk netlink in namespace %s: %v", path, err)
	}
	return h, nil
}
