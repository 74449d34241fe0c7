#!/usr/bin/env bash
# Tutorial 5 (docs/tutorials/05-firewall-pitfall.md): SCENARIOS.md setup 5,
# the firewall pitfall. Two containers on a network whose ACL denies by
# default: their pings vanish without an error. The drop counters say "acl",
# `trace` names the rule that decided (the network's default), an allow rule
# fixes it and the same trace then forwards.
#
# Run as root after `make build`: sudo docs/tutorials/05-firewall-pitfall.sh
# Namespaces are vtu5-RANDOM-c1 and vtu5-RANDOM-c2 (never yours); ports keep
# the short names (--name) and pinned MACs (--mac) so the output matches the
# page. docs/tutorials/lib.sh has the helpers, the cleanup (on every exit
# path) and the output convention test/e2e/tutorials_test.go checks. The root
# network namespace is never changed.
TUT=5 NEEDS=
. "$(dirname "$0")/lib.sh"

step "namespaces c1 and c2, and vswitchd"
newns c1; C1=$ns
newns c2; C2=$ns
start_daemon --no-default-network

step "a network whose ACL denies what no rule allows"
ctl network create lab --subnet 10.113.1.0/24 --acl-default deny
ctl port add lab --netns "$C1" --name c1 --ip 10.113.1.2 --mac 02:42:0a:71:01:02
ctl port add lab --netns "$C2" --name c2 --ip 10.113.1.3 --mac 02:42:0a:71:01:03

step "c1 pings c2: nothing comes back, and nothing says why"
nsx "$C1" ping -c 2 -W 1 10.113.1.3 || true

step "the drop counters"
ctl stats

step "trace: which stage dropped it, and which rule"
ctl trace --in c1 --dst 10.113.1.3
ctl acl ls

step "the fix: allow ICMP inside the network"
ctl acl add lab --action allow --proto icmp --src 10.113.1.0/24
ctl trace --in c1 --dst 10.113.1.3
nsx "$C1" ping -c 2 -W 1 10.113.1.3

step "the rule decided the flow; conntrack passes its answers"
ctl acl ls
ctl conntrack show --proto icmp

step "TCP is still denied until a rule allows it"
ctl trace --in c1 --dst 10.113.1.3 --dport 8000
ctl acl add lab --action allow --proto tcp --dport 8000 --src 10.113.1.0/24 --priority 10
ctl trace --in c1 --dst 10.113.1.3 --dport 8000
ctl stats c1

step "done; cleaning up"
