#!/usr/bin/env bash
# Tutorial 7 (docs/tutorials/07-dual-stack.md): a dual-stack network. Two
# namespaces get an IPv4 and an IPv6 address each from vswitchd, ping each
# other and their gateway over both; the default IPv6 route via the
# gateway's link-local address, the neighbour entries, `arp show` and
# `network inspect`; a second dual-stack network, isolated until `network
# connect`, then pinged across over IPv6.
#
# Run as root after `make build`: sudo docs/tutorials/07-dual-stack.sh
# The namespaces are vtu7-RANDOM-c1, -c2, -c3 (never yours); the ports are
# still called c1, c2, c3 (--name) and their MACs are pinned (--mac), so the
# output matches the page. Unlike the other tutorials' namespaces these keep
# IPv6 on; vswitchd itself settles DAD on the TAPs it makes. No packet
# counter is shown: with IPv6 on, the kernel's router solicitations and
# multicast listener reports come at times of its own. docs/tutorials/lib.sh
# has the helpers, the cleanup (on every exit path) and the output
# convention that test/e2e/tutorials_test.go checks. The root network
# namespace is never changed.
TUT=7
. "$(dirname "$0")/lib.sh"

# v6ns ROLE: a namespace of lib.sh's, with IPv6 turned back on.
v6ns() {
  newns "$1"
  nsq "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.default.disable_ipv6=0
}

step "three namespaces with IPv6 on, and vswitchd"
v6ns c1; C1=$ns
v6ns c2; C2=$ns
v6ns c3; C3=$ns
start_daemon --no-default-network

step "a dual-stack network: an IPv4 subnet and an IPv6 /64"
ctl network create ds --subnet 10.30.0.0/24 --ipv6 --subnet6 fd00:30::/64
ctl port add ds --netns "$C1" --name c1 --mac 02:42:0a:1e:00:02
ctl port add ds --netns "$C2" --name c2 --mac 02:42:0a:1e:00:03
ctl port ls

step "what vswitchd made inside c1"
ipn "$C1" -br addr show dev eth0
nsx "$C1" sysctl net.ipv6.conf.eth0.accept_dad
ipn "$C1" -6 route show

step "c1 pings c2 and the gateway, over IPv4 and IPv6"
nsx "$C1" ping -c 1 -W 1 10.30.0.3
nsx "$C1" ping -6 -c 1 -W 1 fd00:30::3
nsx "$C1" ping -c 1 -W 1 10.30.0.1
nsx "$C1" ping -6 -c 1 -W 1 fd00:30::1

step "c1's neighbours, and the router's"
ipn "$C1" -6 neigh show dev eth0 fd00:30::1
ctl trace --in c1 --dst fd00:30::1 --proto nd
ctl arp show

step "the network"
ctl network inspect ds

step "a second dual-stack network, not yet connected"
ctl network create ds2 --subnet 10.31.0.0/24 --ipv6 --subnet6 fd00:31::/64
ctl port add ds2 --netns "$C3" --name c3 --mac 02:42:0a:1f:00:02
nsx "$C1" ping -6 -c 1 -W 1 fd00:31::2 || true
ctl trace --in c1 --dst fd00:31::2

step "connected: routed over IPv6"
ctl network connect ds ds2
nsx "$C1" ping -6 -c 1 -W 1 fd00:31::2
ctl trace --in c1 --dst fd00:31::2

step "done; cleaning up"
