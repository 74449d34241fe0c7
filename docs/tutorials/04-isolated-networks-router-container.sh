#!/usr/bin/env bash
# Tutorial 4 (docs/tutorials/04-isolated-networks-router-container.md):
# SCENARIOS.md setup 3. h1 on the user network h1r1br (172.22.0.0/16) and h2
# on the default network bridge (172.17.0.0/16) cannot reach each other: a
# trace ends "Verdict: drop (isolation)". router1, a container with a port on
# each network and ip_forward on in its own namespace, joins them once h1 and
# h2 route via it: the trace of a frame to router1's MAC stays at L2. Last,
# `network connect` opens the routed path, and the first trace forwards.
#
# Run as root after `make build`:
#   sudo docs/tutorials/04-isolated-networks-router-container.sh
# Namespaces are vtu4-RANDOM-ROLE (never yours); ports keep short names
# (--name) and pinned MACs (--mac), so the output matches the page.
# docs/tutorials/lib.sh has the helpers, the cleanup (on every exit path) and
# the output convention test/e2e/tutorials_test.go checks. ip_forward is set
# inside router1's namespace only: the root network namespace is never
# changed.
TUT=4 NEEDS=
. "$(dirname "$0")/lib.sh"

step "namespaces h1, h2 and router1, and vswitchd (it creates the default network bridge)"
newns h1; H1=$ns
newns h2; H2=$ns
newns router1; R1=$ns
start_daemon

step "a user network h1r1br beside the default one"
ctl network create h1r1br --subnet 172.22.0.0/16
ctl network ls

step "h1 on h1r1br, h2 on bridge"
ctl port add h1r1br --netns "$H1" --name h1 --ip 172.22.0.2 --mac 02:42:ac:16:00:02
ctl port add bridge --netns "$H2" --name h2 --ip 172.17.0.2 --mac 02:42:ac:11:00:02
ipn "$H1" route show

step "h1 cannot ping h2: the networks are isolated"
nsx "$H1" ping -c 2 -W 1 172.17.0.2 || true
ctl stats h1
ctl trace --in h1 --dst 172.17.0.2

step "router1: a port on each network (the second without a default route)"
ctl port add h1r1br --netns "$R1" --name router1-a --ip 172.22.0.3 --mac 02:42:ac:16:00:03 --allowed-ips 172.17.0.0/16
ctl port add bridge --netns "$R1" --name router1-b --ip 172.17.0.3 --mac 02:42:ac:11:00:03 --no-default-route --allowed-ips 172.22.0.0/16
ipn "$R1" -br addr show
nsx "$R1" sysctl -w net.ipv4.ip_forward=1

step "h1 and h2 route via router1"
ipn "$H1" route replace default via 172.22.0.3
ipn "$H2" route replace default via 172.17.0.3
ipn "$H1" route show
ipn "$H2" route show

step "now h1 pings h2, and a live trace follows the packets that cross port h2"
live_bg --port h2 --proto icmp --count 2
nsx "$H1" ping -c 1 -W 1 172.17.0.2
live_wait

step "why: h1 sends to router1's MAC, and vswitchd switches that frame inside h1r1br"
ipn "$H1" neigh show 172.22.0.3
ctl trace --in h1 --dst 172.17.0.2 --dst-mac 02:42:ac:16:00:03
ctl fdb show --network h1r1br

step "the isolation counter did not move"
ctl stats

step "network connect: the routed path opens too"
ctl network connect h1r1br bridge
ctl trace --in h1 --dst 172.17.0.2

step "done; cleaning up"
