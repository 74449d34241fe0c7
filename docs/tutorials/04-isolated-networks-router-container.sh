#!/usr/bin/env bash
# Tutorial 4 (docs/tutorials/04-isolated-networks-router-container.md):
# SCENARIOS.md setup 3. h1 on the user network h1r1br (172.22.0.0/16) and h2
# on the default network bridge (172.17.0.0/16) cannot reach each other, and
# the drop is counted as isolation; router1, a container with a port on each
# network and ip_forward on in its own namespace, joins them once h1 and h2
# route via it.
#
# Run as root from anywhere, after `make build`. Namespaces are named
# vtu4-<random>-ROLE so the script never meets namespaces of yours; ports
# keep short names (--name) so the output matches the page. vswitchd gets its
# own socket and state directory in a temporary directory, and creates its
# default network `bridge`. ip_forward is set inside router1's namespace
# only: nothing is ever changed in the root network namespace. Everything
# goes away when the script exits, fails or is interrupted.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(id -u)" = 0 ] || { echo "04-isolated-networks-router-container: run as root (it creates network namespaces)" >&2; exit 1; }
[ -x bin/vswitchd ] && [ -x bin/vswitchctl ] || { echo "04-isolated-networks-router-container: run 'make build' first" >&2; exit 1; }
command -v tcpdump >/dev/null || { echo "04-isolated-networks-router-container: needs tcpdump (apt-get install tcpdump)" >&2; exit 1; }

suf=$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')
tmp=$(mktemp -d /tmp/vswitch-tut4.XXXXXX)
sock=$tmp/vswitchd.sock
H1=vtu4-$suf-h1
H2=vtu4-$suf-h2
R1=vtu4-$suf-router1
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
# capture NS IF COUNT FILTER...: tcpdump in the background on IF of NS until
# COUNT packets matched or 5 s passed; `shown` prints what it saw.
capture() {
  local n=$1 i=$2 c=$3; shift 3
  nsx "$n" timeout 5 tcpdump -lni "$i" -c "$c" "$@" >"$tmp/tcpdump.out" 2>/dev/null &
  cap=$!
  sleep 1
}
shown() { wait "$cap" || true; cat "$tmp/tcpdump.out"; }

step "namespaces h1, h2 and router1"
for n in "$H1" "$H2" "$R1"; do newns "$n"; done

step "start vswitchd (socket and state in $tmp; it creates the default network bridge)"
bin/vswitchd --socket "$sock" --state-dir "$tmp/state" 2>"$tmp/vswitchd.log" &
pid=$!
for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || { cat "$tmp/vswitchd.log" >&2; exit 1; }

step "a user network h1r1br beside the default one"
ctl network create h1r1br --subnet 172.22.0.0/16
ctl network ls

step "h1 on h1r1br, h2 on bridge"
ctl port add h1r1br --netns "$H1" --name h1 --ip 172.22.0.2
ctl port add bridge --netns "$H2" --name h2 --ip 172.17.0.2
ip -n "$H1" route show

step "h1 cannot ping h2: the networks are isolated"
nsx "$H1" ping -c 2 -W 1 172.17.0.2 || true
ctl stats h1

step "router1: a port on each network (the second without a default route)"
ctl port add h1r1br --netns "$R1" --name router1-a --ip 172.22.0.3 --allowed-ips 172.17.0.0/16
ctl port add bridge --netns "$R1" --name router1-b --ip 172.17.0.3 --no-default-route --allowed-ips 172.22.0.0/16
ip -n "$R1" -br addr show
nsx "$R1" sysctl -w net.ipv4.ip_forward=1

step "h1 and h2 route via router1"
ip -n "$H1" route replace default via 172.22.0.3
ip -n "$H2" route replace default via 172.17.0.3
ip -n "$H1" route show
ip -n "$H2" route show

step "now h1 pings h2; tcpdump on router1's bridge side shows it forwarding"
capture "$R1" eth1 4 icmp
nsx "$H1" ping -c 2 -W 1 172.17.0.2
shown

step "h1 sent its frames to router1's MAC: L2 inside h1r1br, never the gateway"
ip -n "$H1" neigh show
ctl port ls
ctl fdb show --network h1r1br

step "the isolation counter did not move"
ctl stats

step "done; cleaning up"
