// Package testns runs a package's unit tests in a network namespace of
// their own, so that tests which open sockets on loopback (a fake DNS
// upstream, a TCP peer) never use the root namespace's: the rule is that
// tests touch only namespaces they create.
//
// Use it from TestMain:
//
//	func TestMain(m *testing.M) { testns.Main(m) }
//
// As root, the test binary starts itself again in a new network namespace
// (CLONE_NEWNET, no other namespace changes), brings its loopback up, runs
// the tests there and exits with their status; the namespace goes away with
// the process. As another user it does the same inside a new user namespace
// (as `unshare -rn` does) when the kernel allows one, and otherwise runs the
// tests where it is, since an unprivileged process cannot change the
// namespace it is in anyway.
package testns

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"github.com/vishvananda/netlink"
)

// envKey marks the second run, inside the new namespace.
const envKey = "VSWITCH_TESTNS"

// Main runs m in a network namespace of its own and exits.
func Main(m interface{ Run() int }) {
	if os.Getenv(envKey) == "" {
		if code, ok := rerun(); ok {
			os.Exit(code)
		}
		os.Exit(m.Run()) // no namespace could be made (unprivileged)
	}
	lo, err := netlink.LinkByName("lo")
	if err == nil {
		err = netlink.LinkSetUp(lo)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "testns: loopback of the test namespace: %v\n", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// rerun starts the test binary again, with the same arguments, in a new
// network namespace and returns its exit status; ok is false when the
// namespace could not be made.
func rerun() (code int, ok bool) {
	cmd := exec.Command("/proc/self/exe", os.Args[1:]...)
	cmd.Args[0] = os.Args[0]
	cmd.Env = append(os.Environ(), envKey+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	attr := &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	if os.Geteuid() != 0 {
		attr.Cloneflags |= syscall.CLONE_NEWUSER
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}}
	}
	cmd.SysProcAttr = attr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, true
	case errors.As(err, &exit):
		return exit.ExitCode(), true
	default:
		return 0, false // the clone itself failed
	}
}
