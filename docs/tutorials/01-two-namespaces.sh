#!/usr/bin/env bash
# Tutorial 1 (docs/tutorials/01-two-namespaces.md): two namespaces on one
# vswitchd network, pinging each other and their gateway; the ARP exchange in
# a capture, the MAC table filling, a live trace of one ping, the counters and
# the router's neighbour table.
#
# Run as root after `make build`: sudo docs/tutorials/01-two-namespaces.sh
# The namespaces are vtu1-RANDOM-net1 and vtu1-RANDOM-net2 (never yours); the
# ports are still called net1 and net2 (--name) and their MACs are pinned
# (--mac), so the output matches the page. docs/tutorials/lib.sh has the
# helpers, the cleanup (on every exit path) and the output convention that
# test/e2e/tutorials_test.go checks. The root network namespace is never
# changed.
TUT=1 NEEDS=tcpdump
. "$(dirname "$0")/lib.sh"

step "two namespaces (IPv6 off, so its chatter does not show in the counters) and vswitchd"
newns net1; NET1=$ns
newns net2; NET2=$ns
start_daemon --no-default-network

step "one network, the gateway at 10.100.0.1, a port in each namespace"
ctl network create br0 --subnet 10.100.0.0/16 --gateway 10.100.0.1
ctl port add br0 --netns "$NET1" --name net1 --ip 10.100.0.10/16 --mac 02:42:0a:64:00:0a
ctl port add br0 --netns "$NET2" --name net2 --ip 10.100.0.20/16 --mac 02:42:0a:64:00:14
ctl port ls

step "what vswitchd made inside net1"
ipn "$NET1" -br addr show
ipn "$NET1" route show

step "the MAC table before any traffic"
ctl fdb show

step "net1 pings net2 while vswitchd captures net1's port"
capture_bg net1 6 net1.pcapng
nsx "$NET1" ping -c 2 -W 1 10.100.0.20
capture_wait
say "tcpdump -n -e -r net1.pcapng"
tcpdump -n -e -r net1.pcapng 2>&1

step "the MAC table filled"
ctl fdb show

step "one ping followed through the pipeline"
live_bg --port net2 --proto icmp --count 2
nsx "$NET2" ping -c 1 -W 1 10.100.0.10
live_wait

step "both ping the gateway, which vswitchd answers"
nsx "$NET1" ping -c 1 -W 1 10.100.0.1
nsx "$NET2" ping -c 1 -W 1 10.100.0.1

step "what net1 learned about the gateway: the MAC vswitchd answers with"
ipn "$NET1" neigh show 10.100.0.1
say "vswitchctl network inspect br0 | grep gateway_mac"
"$BIN/vswitchctl" network inspect br0 | grep gateway_mac

step "the counters"
ctl stats

step "the router's neighbour table"
ctl arp show

step "done; cleaning up"
