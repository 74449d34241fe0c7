// Package sdnotify tells systemd how the service is doing: the sd_notify(3)
// protocol, written here because it is a few lines (one datagram to a unix
// socket) and the project takes no dependency for it.
//
// systemd runs a Type=notify service with $NOTIFY_SOCKET set to the path of
// a unix datagram socket (a name starting with '@' is in the abstract
// namespace). The service sends newline-separated KEY=VALUE assignments:
// READY=1 when it serves, RELOADING=1 with MONOTONIC_USEC while it re-reads
// its configuration (then READY=1 again), STOPPING=1 when it shuts down,
// STATUS=... for `systemctl status`. Without $NOTIFY_SOCKET (not started by
// systemd, or not Type=notify) every call does nothing and says so, so the
// daemon calls them unconditionally.
package sdnotify
