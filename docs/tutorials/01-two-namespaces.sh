#!/usr/bin/env bash
# Tutorial 1 (docs/tutorials/01-two-namespaces.md): two namespaces on one
# vswitchd network, pinging each other and their gateway; then the MAC table,
# the counters and the router's neighbour table.
#
# Run as root from anywhere, after `make build`. The namespaces are named
# vtu1-<random>-net1 and vtu1-<random>-net2 so that the script never meets
# namespaces of yours; the ports are still called net1 and net2 (--name), so
# the output matches the page. vswitchd gets its own socket and state
# directory in a temporary directory and no default network. Everything the
# script made goes away when it exits, fails or is interrupted. The root
# network namespace is never changed.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(id -u)" = 0 ] || { echo "01-two-namespaces: run as root (it creates network namespaces)" >&2; exit 1; }
[ -x bin/vswitchd ] && [ -x bin/vswitchctl ] || { echo "01-two-namespaces: run 'make build' first" >&2; exit 1; }

suf=$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')
tmp=$(mktemp -d /tmp/vswitch-tut1.XXXXXX)
sock=$tmp/vswitchd.sock
NET1=vtu1-$suf-net1
NET2=vtu1-$suf-net2
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

step "two namespaces (IPv6 off, so its chatter does not show in the counters)"
for n in "$NET1" "$NET2"; do
  ip netns add "$n"
  made+=("$n")
  ip netns exec "$n" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
done
echo "$NET1 $NET2"

step "start vswitchd (socket and state in $tmp, no default network)"
bin/vswitchd --socket "$sock" --state-dir "$tmp/state" --no-default-network 2>"$tmp/vswitchd.log" &
pid=$!
for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || { cat "$tmp/vswitchd.log" >&2; exit 1; }

step "one network, the gateway at 10.100.0.1"
ctl network create br0 --subnet 10.100.0.0/16 --gateway 10.100.0.1

step "a port in each namespace"
ctl port add br0 --netns "$NET1" --name net1 --ip 10.100.0.10/16
ctl port add br0 --netns "$NET2" --name net2 --ip 10.100.0.20/16
ctl port ls

step "what vswitchd made inside net1"
ip -n "$NET1" -br addr show
ip -n "$NET1" route show

step "net1 pings net2, net2 pings net1"
ip netns exec "$NET1" ping -c 2 -W 1 10.100.0.20
ip netns exec "$NET2" ping -c 2 -W 1 10.100.0.10

step "both ping the gateway, which vswitchd answers"
ip netns exec "$NET1" ping -c 1 -W 1 10.100.0.1
ip netns exec "$NET2" ping -c 1 -W 1 10.100.0.1

step "what net1 learned about the gateway: the MAC vswitchd answers with"
ip -n "$NET1" neigh show
ctl network inspect br0 | grep gateway_mac

step "the MAC table"
ctl fdb show

step "the counters"
ctl stats

step "the router's neighbour table"
ctl arp show

step "done; cleaning up"
