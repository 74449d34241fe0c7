#!/usr/bin/env bash
# Tutorial 2 (docs/tutorials/02-routed-networks-and-uplink.md): two networks
# routed by vswitchd's gateways. Isolation until `network connect`, then TTL
# and MTU handled as a router must (time exceeded, frag needed,
# fragmentation), then an uplink to an "outside" namespace that sees the
# containers' own addresses; last, a masquerading network leaving through NAT.
#
# Run as root after `make build`: sudo docs/tutorials/02-routed-networks-and-uplink.sh
# Namespaces are vtu2-RANDOM-ROLE (never yours); ports keep short names
# (--name) and pinned MACs (--mac, outside's veth `address`), so the output
# matches the page. docs/tutorials/lib.sh has the helpers, the cleanup (on
# every exit path) and the output convention test/e2e/tutorials_test.go
# checks. The uplink's veth is created inside the namespace "outside" with
# its peer placed straight into the namespace "vsw": no link, address, route
# or sysctl is ever made in the root network namespace.
TUT=2 NEEDS=tcpdump
. "$(dirname "$0")/lib.sh"

# tcpdump_bg NS COUNT ARGS...: tcpdump (options, filter) on eth0 of NS in the
# background until COUNT packets matched or 5 s passed, printed; shown prints
# what it saw.
tcpdump_bg() {
  local n=$1 c=$2; shift 2
  say "ip netns exec $n timeout 5 tcpdump -lni eth0 -c $c $* &"
  nsq "$n" timeout 5 tcpdump -lni eth0 -c "$c" "$@" >"$tmp/tcpdump.out" 2>/dev/null &
  cap=$!
  bg+=("$cap")
  sleep 1
}
shown() { wait "$cap" || true; cat "$tmp/tcpdump.out"; }

step "namespaces h1, h2 and h3 (containers), outside (a machine on the uplink's link), vsw (holds the uplink's interface); vswitchd"
newns h1; H1=$ns
newns h2; H2=$ns
newns h3; H3=$ns
newns outside; OUT=$ns
newns vsw; VSW=$ns
start_daemon --no-default-network
step "two networks without masquerade; h1r1br has an MTU of 1400"
ctl network create h1r1br --subnet 172.22.0.0/16 --mtu 1400 --no-masquerade
ctl network create bridge --subnet 172.17.0.0/16 --no-masquerade
ctl port add h1r1br --netns "$H1" --name h1 --ip 172.22.0.2 --mac 02:42:ac:16:00:02
ctl port add bridge --netns "$H2" --name h2 --ip 172.17.0.2 --mac 02:42:ac:11:00:02
ctl network ls
ctl route ls

step "isolated: h1 cannot reach h2, and the drop says why"
nsx "$H1" ping -c 2 -W 1 172.17.0.2 || true
ctl stats h1

step "no route at all: net unreachable from the gateway"
nsx "$H1" ping -c 1 -W 1 192.0.2.1 || true

step "network connect: now the gateways route between the two"
ctl network connect h1r1br bridge
ctl network ls
nsx "$H1" ping -c 2 -W 1 172.17.0.2

step "TTL 1: the gateway answers time exceeded"
nsx "$H1" ping -c 1 -W 1 -t 1 172.17.0.2 || true

step "1500-byte packets from h2 (MTU 1500) to h1 (MTU 1400), DF clear: vswitchd fragments"
tcpdump_bg "$H1" 2 -v src host 172.17.0.2
nsx "$H2" ping -c 1 -W 1 -M dont -s 1472 172.22.0.2
shown

step "the same with DF set: fragmentation needed, with the next hop's MTU"
nsx "$H2" ping -c 2 -W 1 -M do -s 1472 172.22.0.2 2>&1 || true
ipn "$H2" route get 172.22.0.2

step "the outside: a veth whose end 'eth0' (10.0.12.11/24) is in outside and whose end 'up0' is in vsw"
ip -n "$OUT" link add eth0 address 02:00:0a:00:0c:0b type veth peer name up0 netns "$VSW"
ip -n "$OUT" addr add 10.0.12.11/24 dev eth0
ip -n "$OUT" link set lo up
ip -n "$OUT" link set eth0 up
ip -n "$OUT" route add 172.22.0.0/16 via 10.0.12.15
ip -n "$OUT" route add 172.17.0.0/16 via 10.0.12.15

step "the uplink: vswitchd owns 10.0.12.15 on up0, which itself has no address"
ctl uplink add --dev up0 --netns "$VSW" --ip 10.0.12.15/24 --gateway 10.0.12.11
ctl uplink ls
ctl route ls
ipn "$VSW" -br addr show dev up0
ipn "$OUT" route show

step "outside pings the uplink address, answered by vswitchd"
nsx "$OUT" ping -c 1 -W 1 10.0.12.15

step "h1 pings outside; tcpdump on outside shows h1's own address"
tcpdump_bg "$OUT" 4 icmp
nsx "$H1" ping -c 2 -W 1 10.0.12.11
shown

step "and outside reaches h2 through the uplink"
nsx "$OUT" ping -c 2 -W 1 172.17.0.2

step "the router's neighbours: the outside was resolved by ARP on the uplink"
ctl arp show

step "a network with masquerade (the default) leaves by the uplink through NAT"
ctl network create masq --subnet 172.30.0.0/24
ctl port add masq --netns "$H3" --name h3 --ip 172.30.0.2 --mac 02:42:ac:1e:00:02
nsx "$H3" ping -c 2 -W 1 10.0.12.11
ctl conntrack show --proto icmp
ctl stats

step "done; cleaning up"
