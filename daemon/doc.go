// Package daemon is vswitchd's control plane: it owns the configuration,
// builds the dataplane from it, creates and configures the ports' devices,
// and serves the HTTP/JSON API that vswitchctl talks to.
//
// State (state.go) is the single source of truth: networks (subnet, gateway,
// the gateway's MAC, options, connected networks), ports, static FDB
// entries, static routes, uplinks, published ports and ACL rules (with the
// counters that keep their IDs unique). Every change that succeeds is written
// to STATE_DIR/state.json atomically (temporary file, fsync, rename), and the
// dataplane is always rebuilt from the state, never the reverse. At start
// New restores it: networks and their ACLs, then ports (persistent TAPs
// are re-attached by name and their offloads set again), static FDB
// entries, uplinks, routes and published ports; a port whose device cannot
// be opened stays configured, shown as down. On the very first start, unless told not to, it creates Docker's
// default network `bridge` (172.17.0.0/16).
//
// Every method of Daemon takes one mutex, so API requests are serialised.
// Methods named ...Locked expect it held. Errors carry the HTTP status the
// API answers with (400 bad request, 404 not found, 409 conflict) and a
// message that says what to do.
//
// Files:
//
//	daemon.go   Daemon, New (load and restore), Close, the namespace watcher,
//	            errors with their HTTP status
//	networks.go networks: create, list, inspect, remove
//	ports.go    ports (TAP and AF_PACKET): naming, addresses, devices
//	fdb.go      the MAC tables and static entries
//	stats.go    per-port counters and drops by reason
//	publish.go  published ports (DNAT): validation, the dataplane's rule set
//	acl.go      per-network ACLs: validation, rebuilt into a policy.ACL
//	            after every change, hit counters kept across rebuilds
//	conntrack.go the connection table: listing and flush
//	l3.go       gateways, connected networks, static routes, uplinks, ARP
//	            listing; syncL3Locked turns them into the dataplane's router
//	            configuration and route table
//	iface.go    interface setup through a netlink handle bound to the
//	            port's namespace: name, MAC, MTU, address, lo, default route
//	ipam.go     next free address, host address checks
//	state.go    the state file
//	config.go   --config: a YAML file of networks and ports to create,
//	            checked on its YAML tree for errors with line numbers
//	api.go      the HTTP handler, under /v1/
//	apiguard.go the API socket's server: callers checked by SO_PEERCRED
//	            (root or the socket's group, else 403), bodies over 1 MiB
//	            refused (413), JSON errors worded with where and what (400)
//	caps.go     the capability drop after setup: what is kept and why
//	metrics.go  Prometheus collector over the port counters
//
// The daemon does not forward frames (package dataplane does) and does not
// open devices itself (package dataplane/port and internal/netns do).
package daemon
