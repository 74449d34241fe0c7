// Package dataplane forwards frames between ports: the L2 switch of each
// network, the router between networks and the uplink, and the workers that
// run both.
//
// # Workers
//
// A Dataplane runs one worker per CPU (Options.Workers). A worker is a
// goroutine locked to its OS thread, waiting in epoll_wait on the fds of the
// ports it serves; each port is read by exactly one worker. When a port is
// readable the worker reads a batch, decides every frame, queues the results
// per egress port and writes each egress once per batch, all on its own
// thread. There is no channel or goroutine hop per frame: on the project's
// machines waking a thread on the other core (5-35 µs) costs more than
// forwarding a frame, so the thread that reads a frame also writes it.
//
//	epoll_wait ─▶ serve ─▶ Port.ReadBatch ─▶ forwardBatch
//	                                           │ for each frame:
//	                                           ▼
//	                         decide (l2.go) ── not for a gateway ─▶ switchL2
//	                           │ gateway MAC, or ARP for a gateway
//	                           ▼
//	                         arpInput / routeIPv4 (l3.go)
//	                           conntrack, DNAT, SNAT (nat.go)
//	                           isolation, icc, ACLs (policy.go)
//	                                           │ Verdict
//	                                           ▼
//	                         apply ─▶ outQueues ─▶ flush ─▶ Port.WriteBatch
//
// # Verdicts
//
// Every decision is a Verdict: forward to a port, flood a network, consumed
// by the router (queued for ARP, answered, or sent as fragments), or drop
// with a DropReason. Every reason has a counter per port, so `vswitchctl
// stats` says why a frame went nowhere. docs/walkthrough.md lists which
// function decides each reason.
//
// # Configuration
//
// Ports, networks, gateways, the route table and vswitchd's own addresses
// form an immutable snapshot behind an atomic.Pointer. The control plane
// (AddNetwork, AddPort, RemovePort, SetL3, ...) copies it under a mutex and
// publishes the copy; workers load it once per wake-up and never lock.
// RemovePort also waits until every worker has finished the loop iteration
// it was in (an RCU grace period), so that when it returns no worker can
// still write to the removed port and its device may be closed.
//
// # Frames
//
// Every buffer starts with a virtio_net_hdr, then the Ethernet frame. The
// header travels with the frame from port to port, so GSO super-frames and
// partial checksums cross vswitchd whole; the router judges a GSO frame by
// the segments it will become. Headers are read and rewritten in place
// through the views of package header, and buffers belong to the worker
// (a receive batch, and a few buffers for frames the router makes), so the
// per-frame path allocates nothing; TestFastPathAllocs and
// TestRouterFastPathAllocs hold that for the switch and the router, and
// TestNATFastPathAllocs for tracked, translated flows.
//
// # NAT and policy
//
// The router tracks the flows that need it (NAT, or an ACL on either
// network) in package nat's table, masquerades what leaves by the uplink
// from a masquerading network, sends published ports to their targets, and
// applies Docker's isolation between networks and each network's ACL to
// the first packet of every flow (nat.go, policy.go); the packets of a
// tracked flow pass. Switched frames meet the ACL of their network, and are
// tracked for it, only when it has one.
//
// # Looking inside
//
// Trace (trace.go; live traces in tracelive.go) runs decide on a worker
// of its own with a tracer set: each stage records its decision and the
// state it used, and the side
// effects are looked at instead of done, so a dry run changes nothing. A
// live trace and a capture tap (capture.go) are atomic pointers the
// workers load once per batch, nil unless asked for; their records and
// copies go into bounded buffers, dropped and counted when full, so a
// worker never waits for a reader. latency.go keeps each worker's batch
// latency histogram.
//
// # What it does not do
//
// It opens no device (package port does, for the daemon), keeps no
// configuration of its own beyond the snapshot (package daemon owns it),
// and does no IPv6 routing yet. The ingress guard (guard.go) checks
// port security, storm and connection-rate limits before decide.
package dataplane
