// Package harness measures vswitchd against the kernel's bridge and
// iptables, side by side, as BENCH.md prescribes.
//
// For each pair it builds both topologies afresh in namespaces named
// vsb-RUNID-*, with the same addresses:
//
//	kernel:  c1 ─┐                          vswitch: c1 ─┐ TAP
//	         c2 ─┤ veth  brA ┐ namespace "br"          c2 ─┤     vswitchd (namespace "d")
//	         c3 ── veth  brB ┤ ip_forward,             c3 ─┘      │ AF_PACKET uplink on up0
//	                  v-ext ─┘ iptables (Docker)                  │ (owns 10.201.100.1)
//	         ext ── veth ──┘  (10.201.100.1)           ext ── veth ┘
//
// and runs every test of every scenario on the kernel side, then on each
// vswitchd side (kernel, vswitch, kernel, vswitch ...). A scenario whose
// vswitchctl command does not exist yet (exit status 2) is recorded as
// "not supported yet"; the kernel side is still measured. Every failure
// is a sample with an error string, never a zero.
//
// Everything the harness creates is registered and removed by
// Harness.Close, which the command calls on every exit path including
// SIGINT and SIGTERM. Nothing is ever created in the root namespace: links
// are made with `ip -n NS`, vswitchd itself runs inside a namespace of the
// run, and traffic flows only between the run's namespaces.
//
// The parsers (iperf3 JSON, sockperf, go test -bench, /proc, vswitchctl
// stats) are pure and unit-tested; the rest needs root and is exercised by
// bench/run.sh.
package harness
