#!/usr/bin/env bash
# make soak: vswitchd under churn and traffic for SOAK_MINUTES (default 2),
# then its open files, memory, threads and goroutines compared with the start.
#
# Steady part: network soak with ports in namespaces a and b, a ping every
# 5 ms from a to b all along (its loss is reported), and, with iperf3, a 2 s
# TCP transfer a -> b in every round. Churn, round after round: a network
# created, connected to soak and disconnected, ports added to it in c and d,
# a ping across, one port removed by port rm and the rest by network rm
# --force. The figures are read after one warm-up round and after the last
# round, with the same configuration up; the run fails if the open files or
# the goroutines grow at all, or RSS grows by more than SOAK_RSS_MIB (32).
#
# vswitchd runs inside a namespace of its own (its metrics and profiles
# listen on that namespace's 127.0.0.1); every namespace here is named
# vss-<random>-* and goes away on exit, Ctrl-C or failure. The root
# namespace is never touched.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "soak: run as root (it creates network namespaces)" >&2; exit 1; }
for b in bin/vswitchd bin/vswitchctl; do
  [ -x "$b" ] || { echo "soak: $b missing: run make build (make soak does)" >&2; exit 1; }
done
minutes=${SOAK_MINUTES:-2}
rss_bound_mib=${SOAK_RSS_MIB:-32}
[[ "$minutes" =~ ^[0-9]+$ && "$minutes" -ge 1 ]] || { echo "soak: bad SOAK_MINUTES '$minutes': want whole minutes, 1 or more" >&2; exit 2; }

suf=$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')
tmp=$(mktemp -d /tmp/vswitch-soak.XXXXXX)
sock=$tmp/vswitchd.sock
dns=vss-$suf-d0 # vswitchd's own namespace
a=vss-$suf-a b=vss-$suf-b c=vss-$suf-c d=vss-$suf-d
all=("$dns" "$a" "$b" "$c" "$d")
pid="" pingpid=""
metrics=127.0.0.1:9477

cleanup() {
  set +e
  [ -n "$pingpid" ] && kill -- "-$pingpid" 2>/dev/null
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  for n in "${all[@]}"; do
    ip netns pids "$n" 2>/dev/null | xargs -r kill -9 2>/dev/null
    ip netns del "$n" 2>/dev/null
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ctl() { bin/vswitchctl --socket "$sock" "$@"; }
nsx() { local n=$1; shift; ip netns exec "$n" "$@"; }
addr() { sed -n 's/.*"ip": "\([0-9.]*\)\/.*/\1/p'; } # the address of a port add -o json

for n in "${all[@]}"; do
  ip netns add "$n"
  nsx "$n" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
done
nsx "$dns" ip link set lo up

# ip netns exec runs vswitchd in place: $! is its pid.
ip netns exec "$dns" bin/vswitchd --socket "$sock" --state-dir "$tmp/state" --no-default-network \
  --metrics-addr "$metrics" >"$tmp/vswitchd.log" 2>&1 &
pid=$!
for _ in $(seq 100); do ctl version >/dev/null 2>&1 && break; sleep 0.1; done
ctl version >/dev/null || { echo "soak: vswitchd does not answer"; tail "$tmp/vswitchd.log"; exit 1; }

ctl network create soak --subnet 10.252.0.0/24 >/dev/null
ctl port add soak --netns "$a" -o json >/dev/null
ipb=$(ctl port add soak --netns "$b" -o json | addr)

# The steady ping, in its own process group (killed as a group).
setsid ip netns exec "$a" ping -q -i 0.005 "$ipb" >"$tmp/ping.out" 2>&1 &
pingpid=$!

round=0
churn() {
  round=$((round + 1))
  local net=churn$((round % 200)) sub=10.251.$((round % 200)).0/24 ipc
  ctl network create "$net" --subnet "$sub" >/dev/null
  ctl network connect soak "$net" >/dev/null
  ipc=$(ctl port add "$net" --netns "$c" -o json | addr)
  ctl port add "$net" --netns "$d" --name "d$round" -o json >/dev/null
  nsx "$a" ping -q -c 2 -i 0.2 -W 2 "$ipc" >/dev/null || echo "soak: round $round: no answer from $ipc (routed soak -> $net)" >&2
  ctl network disconnect soak "$net" >/dev/null
  ctl port rm "d$round" >/dev/null
  ctl network rm "$net" --force >/dev/null
  if command -v iperf3 >/dev/null; then
    nsx "$b" iperf3 -s -D -1 >/dev/null 2>&1 || true
    sleep 0.1
    nsx "$a" iperf3 -c "$ipb" -t 2 >/dev/null 2>&1 || echo "soak: round $round: iperf3 failed" >&2
  fi
}

# fds rss_kib threads goroutines of vswitchd, one line.
sample() {
  local fds rss thr gor
  fds=$(ls /proc/$pid/fd | wc -l)
  rss=$(awk '/^VmRSS:/ {print $2}' /proc/$pid/status)
  thr=$(awk '/^Threads:/ {print $2}' /proc/$pid/status)
  gor=$(nsx "$dns" curl -s "http://$metrics/debug/pprof/goroutine?debug=1" | sed -n 's/^goroutine profile: total \([0-9]*\).*/\1/p')
  echo "$fds $rss $thr ${gor:-0}"
}

churn # warm-up: the first round's allocations are not a leak
read -r fd0 rss0 thr0 gor0 < <(sample)
echo "soak: $minutes min of churn and traffic; start: fds $fd0, RSS $((rss0 / 1024)) MiB, threads $thr0, goroutines $gor0"
end=$((SECONDS + minutes * 60))
next=$((SECONDS + 30))
while [ $SECONDS -lt $end ]; do
  churn
  kill -0 "$pid" 2>/dev/null || { echo "soak: vswitchd died in round $round"; tail -20 "$tmp/vswitchd.log"; exit 1; }
  if [ $SECONDS -ge $next ]; then
    read -r f r t g < <(sample)
    echo "soak:   ${SECONDS}s, round $round: fds $f, RSS $((r / 1024)) MiB, threads $t, goroutines $g"
    next=$((SECONDS + 30))
  fi
done
sleep 1 # the last round's connections and fds close
read -r fd1 rss1 thr1 gor1 < <(sample)
kill -INT -- "-$pingpid" 2>/dev/null || true
wait "$pingpid" 2>/dev/null || true
pingpid=""
loss=$(sed -n 's/.* \([0-9.]*%\) packet loss.*/\1/p' "$tmp/ping.out")
sent=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' "$tmp/ping.out")
echo "soak: end after $round rounds: fds $fd1, RSS $((rss1 / 1024)) MiB, threads $thr1, goroutines $gor1"
echo "soak: steady ping a -> b: ${sent:-?} sent, ${loss:-?} lost"

fail=0
if [ "$fd1" -gt "$fd0" ]; then echo "soak: FAIL: open files grew from $fd0 to $fd1"; fail=1; fi
if [ "$gor1" -gt "$gor0" ]; then echo "soak: FAIL: goroutines grew from $gor0 to $gor1"; fail=1; fi
if [ $((rss1 - rss0)) -gt $((rss_bound_mib * 1024)) ]; then
  echo "soak: FAIL: RSS grew by $(((rss1 - rss0) / 1024)) MiB, more than $rss_bound_mib MiB"; fail=1
fi
if grep -q 'level=ERROR' "$tmp/vswitchd.log"; then
  echo "soak: FAIL: vswitchd logged errors:"; grep 'level=ERROR' "$tmp/vswitchd.log" | tail -5; fail=1
fi
[ $fail = 0 ] && echo "soak: PASS (fds $fd0 -> $fd1, RSS $((rss0 / 1024)) -> $((rss1 / 1024)) MiB, threads $thr0 -> $thr1, goroutines $gor0 -> $gor1)"
exit $fail
