#!/usr/bin/env bash
# Tutorial 2 (docs/tutorials/02-routed-networks-and-uplink.md): two networks
# routed by vswitchd's gateways. Isolation until `network connect`, then TTL
# and MTU handled as a router must (time exceeded, frag needed,
# fragmentation), then an uplink to an "outside" namespace that sees the
# containers' own addresses; last, a masquerading network leaving through NAT.
#
# Run as root from anywhere, after `make build`. Namespaces are named
# vtu2-<random>-ROLE so the script never meets namespaces of yours; ports keep
# the short names (--name) so the output matches the page. vswitchd gets its
# own socket and state directory in a temporary directory and no default
# network. The uplink's veth is created inside the namespace "outside" with
# its peer placed straight into the namespace "vsw": no link, address, route
# or sysctl is ever made in the root network namespace. Everything goes away
# when the script exits, fails or is interrupted.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(id -u)" = 0 ] || { echo "02-routed-networks-and-uplink: run as root (it creates network namespaces)" >&2; exit 1; }
[ -x bin/vswitchd ] && [ -x bin/vswitchctl ] || { echo "02-routed-networks-and-uplink: run 'make build' first" >&2; exit 1; }
command -v tcpdump >/dev/null || { echo "02-routed-networks-and-uplink: needs tcpdump (apt-get install tcpdump)" >&2; exit 1; }

suf=$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')
tmp=$(mktemp -d /tmp/vswitch-tut2.XXXXXX)
sock=$tmp/vswitchd.sock
H1=vtu2-$suf-h1
H2=vtu2-$suf-h2
H3=vtu2-$suf-h3
VSW=vtu2-$suf-vsw
OUT=vtu2-$suf-outside
made=()
pid=""

cleanup() {
  set +e
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; fi
  for n in "${made[@]}"; do
    ip netns pids "$n" 2>/dev/null | xargs -r kill 2>/dev/null
    ip netns del "$n" 2>/dev/null
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# vswitchctl finds the daemon through VSWITCH_SOCKET, as on the page.
export VSWITCH_SOCKET=$sock
ctl() { bin/vswitchctl "$@"; }
step() { printf '\n== %s\n' "$*"; }
nsx() { local n=$1; shift; ip netns exec "$n" "$@"; }
newns() {
  ip netns add "$1"
  made+=("$1")
  nsx "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
}
# capture NS COUNT ARGS...: tcpdump (options, filter) on eth0 of NS in the background, until
# COUNT packets matched or 5 s passed; `shown` prints what it saw.
capture() {
  local n=$1 c=$2; shift 2
  nsx "$n" timeout 5 tcpdump -lni eth0 -c "$c" "$@" >"$tmp/tcpdump.out" 2>/dev/null &
  cap=$!
  sleep 1
}
shown() { wait "$cap" || true; cat "$tmp/tcpdump.out"; }

step "namespaces h1, h2 and h3 (containers), outside (a machine on the uplink's link), vsw (holds the uplink's interface)"
for n in "$H1" "$H2" "$H3" "$OUT" "$VSW"; do newns "$n"; done

step "start vswitchd (socket and state in $tmp, no default network)"
bin/vswitchd --socket "$sock" --state-dir "$tmp/state" --no-default-network 2>"$tmp/vswitchd.log" &
pid=$!
for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || { cat "$tmp/vswitchd.log" >&2; exit 1; }

step "two networks without masquerade; h1r1br has an MTU of 1400"
ctl network create h1r1br --subnet 172.22.0.0/16 --mtu 1400 --no-masquerade
ctl network create bridge --subnet 172.17.0.0/16 --no-masquerade
ctl port add h1r1br --netns "$H1" --name h1 --ip 172.22.0.2
ctl port add bridge --netns "$H2" --name h2 --ip 172.17.0.2
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
capture "$H1" 2 -v src host 172.17.0.2
nsx "$H2" ping -c 1 -W 1 -M dont -s 1472 172.22.0.2
shown

step "the same with DF set: fragmentation needed, with the next hop's MTU"
nsx "$H2" ping -c 2 -W 1 -M do -s 1472 172.22.0.2 2>&1 || true
nsx "$H2" ip route get 172.22.0.2

step "the outside: a veth whose end 'eth0' (10.0.12.11/24) is in outside and whose end 'up0' is in vsw"
ip -n "$OUT" link add eth0 type veth peer name up0 netns "$VSW"
ip -n "$OUT" addr add 10.0.12.11/24 dev eth0
ip -n "$OUT" link set lo up
ip -n "$OUT" link set eth0 up
ip -n "$OUT" route add 172.22.0.0/16 via 10.0.12.15
ip -n "$OUT" route add 172.17.0.0/16 via 10.0.12.15

step "the uplink: vswitchd owns 10.0.12.15 on up0, which itself has no address"
ctl uplink add --dev up0 --netns "$VSW" --ip 10.0.12.15/24 --gateway 10.0.12.11
ctl uplink ls
ctl route ls
ip -n "$VSW" -br addr show dev up0
ip -n "$OUT" route show

step "outside pings the uplink address, answered by vswitchd"
nsx "$OUT" ping -c 1 -W 1 10.0.12.15

step "h1 pings outside; tcpdump on outside shows h1's own address"
capture "$OUT" 4 icmp
nsx "$H1" ping -c 2 -W 1 10.0.12.11
shown

step "and outside reaches h2 through the uplink"
nsx "$OUT" ping -c 2 -W 1 172.17.0.2

step "the router's neighbours: the outside was resolved by ARP on the uplink"
ctl arp show

step "a network with masquerade (the default) leaves by the uplink through NAT"
ctl network create masq --subnet 172.30.0.0/24
ctl port add masq --netns "$H3" --name h3 --ip 172.30.0.2
nsx "$H3" ping -c 2 -W 1 10.0.12.11
ctl conntrack show --proto icmp
ctl stats

step "done; cleaning up"
