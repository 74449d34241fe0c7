package daemon

// Dropping capabilities after setup.
//
// vswitchd starts as root because it must: it creates TAPs and enters
// other network namespaces. Once the socket is bound, the state restored
// and the config applied, it keeps only what serving requests and
// forwarding still need (KeptCaps) and drops the rest, from every thread:
// a bug in the API or the dataplane then cannot bypass file permissions
// (CAP_DAC_OVERRIDE: other users' files), load kernel modules, change
// owners, signal other users' processes or bind privileged ports. It is
// a reduction, not a sandbox: vswitchd stays uid 0, so files owned by root
// stay open to it as their mode says, and CAP_SYS_ADMIN is a broad
// capability. Each one kept was found necessary by trying without it
// (docs/architecture.md has what failed).
//
// Capabilities are per thread in Linux, and a Go process has many; so the
// drop goes through syscall.AllThreadsSyscall, which runs capset(2) on
// each of them. The runtime cannot do that in a cgo binary (threads made by C
// code are out of its reach), hence CGO_ENABLED=0 in the Makefile.

import (
	"errors"
	"fmt"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// capability is one Linux capability vswitchd keeps, and why.
type capability struct {
	Bit  int
	Name string
	Why  string
}

// KeptCaps are the capabilities vswitchd keeps after setup; every other
// one is dropped from the effective, permitted and bounding sets, and the
// inheritable and ambient sets are emptied (it runs no program, and one a
// bug made it run would not get them back).
var KeptCaps = []capability{
	{unix.CAP_NET_ADMIN, "cap_net_admin", "port add/rm: create, persist and delete TAPs (TUNSETIFF, TUNSETPERSIST), move them into a namespace and set their name, address and routes by netlink; socket buffers over the sysctl limit (SO_RCVBUFFORCE)"},
	{unix.CAP_NET_RAW, "cap_net_raw", "uplink add and restore: an AF_PACKET socket on the host interface"},
	{unix.CAP_SYS_ADMIN, "cap_sys_admin", "port add: setns(2) into the container's network namespace, the only way to create a device or a socket there"},
	{unix.CAP_SYS_PTRACE, "cap_sys_ptrace", "port add --netns /proc/PID/ns/net and the watcher of such namespaces: opening another process's namespace file needs it once vswitchd has fewer capabilities than that process"},
	{unix.CAP_IPC_LOCK, "cap_ipc_lock", "port attach --kind xdp: an AF_XDP port's UMEM (8 MiB) is locked memory, which RLIMIT_MEMLOCK (8 MiB here) would cap at one port"},
	{unix.CAP_NET_BIND_SERVICE, "cap_net_bind_service", "embedded DNS: its resolver binds 127.0.0.11:53 inside each port's namespace, a port below 1024"},
	{unix.CAP_SYS_NICE, "cap_sys_nice", "worker threads raise their own priority when they start (--worker-nice below 0, --worker-rt)"},
}

// DropCaps keeps only KeptCaps, those of them the process has, on every
// thread; it returns the names kept. A process without CAP_SETPCAP (not
// root) cannot shrink its bounding set and leaves it.
func DropCaps() ([]string, error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var cur [2]unix.CapUserData
	if err := unix.Capget(&hdr, &cur[0]); err != nil {
		return nil, fmt.Errorf("cannot read capabilities: %v", err)
	}
	has := func(bit int) bool { return cur[bit/32].Permitted&(1<<(bit%32)) != 0 }
	effective := func(bit int) bool { return cur[bit/32].Effective&(1<<(bit%32)) != 0 }
	var keep [2]uint32
	var names []string
	for _, c := range KeptCaps {
		if has(c.Bit) {
			keep[c.Bit/32] |= 1 << (c.Bit % 32)
			names = append(names, c.Name)
		}
	}
	kept := func(bit int) bool { return keep[bit/32]&(1<<(bit%32)) != 0 }
	// The bounding set first: dropping from it needs CAP_SETPCAP, which
	// the capset below takes away.
	if effective(unix.CAP_SETPCAP) {
		for bit := 0; bit < 64; bit++ {
			if _, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(bit), 0, 0, 0); err != nil {
				break // EINVAL: past the kernel's last capability
			}
			if kept(bit) {
				continue
			}
			if _, _, e := syscall.AllThreadsSyscall(unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, uintptr(bit), 0); e != 0 {
				return nil, capErr("drop from the bounding set", e)
			}
		}
	}
	set := [2]unix.CapUserData{
		{Effective: keep[0], Permitted: keep[0]},
		{Effective: keep[1], Permitted: keep[1]},
	}
	if _, _, e := syscall.AllThreadsSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&set[0])), 0); e != 0 {
		return nil, capErr("capset", e)
	}
	return names, nil
}

// ErrCapsCgo is DropCaps' error in a cgo binary, where nothing was dropped.
var ErrCapsCgo = errors.New("cannot drop capabilities: this vswitchd was built with cgo, whose threads Go cannot change; build it with CGO_ENABLED=0 (make build does) or pass --keep-caps")

func capErr(what string, e syscall.Errno) error {
	if e == syscall.ENOTSUP {
		return ErrCapsCgo
	}
	return fmt.Errorf("cannot drop capabilities (%s): %v", what, e)
}
