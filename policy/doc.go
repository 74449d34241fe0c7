// Package policy holds the per-network ACLs: ordered allow/deny rules that
// decide which IPv4 and IPv6 flows may be delivered to a network's ports,
// whether they were switched inside the network or routed into it. One ACL
// holds rules of both families: a rule's prefixes say which family it is
// for, a rule without prefixes is for both; ICMP (1) and ICMPv6 (58) are
// two protocols, as they are on the wire.
//
// An ACL is an immutable value built by the control plane and read by the
// workers without a lock: rules sorted by priority (lower first, then by
// ID), first match wins, the network's default action when none matches.
// Each rule's hit counter is an atomic shared by every rebuild of the ACL,
// so `vswitchctl acl ls` keeps counting across changes.
//
// What it does not do: it keeps no state. ACLs are stateful only through
// the dataplane, which asks an ACL about the first packet of a flow and lets
// the packets the connection tracker (package nat) knows as part of an
// allowed flow pass without asking again — the replies above all. Docker's
// isolation between networks and icc=false are decided in the dataplane
// (dataplane/policy.go), since they depend on the network topology, not on
// rules.
package policy
