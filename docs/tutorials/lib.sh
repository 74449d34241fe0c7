# Sourced by the tutorial scripts docs/tutorials/NN-*.sh; not run on its own.
# The caller sets TUT (its number, e.g. 1) and NEEDS (commands it uses).
#
# What it gives a tutorial:
#   - checks: root, bin/vswitchd and bin/vswitchctl (or VSWITCH_BIN=DIR), NEEDS;
#   - a temporary directory $tmp, the script's working directory from then on;
#   - newns ROLE: a namespace named vtuTUT-RANDOM-ROLE (IPv6 off, lo up), whose
#     name it prints into $ns; every namespace made is deleted on exit;
#   - start_daemon [FLAGS]: vswitchd with its own socket and state in $tmp;
#   - cleanup on every exit path (end, failure, Ctrl-C): the daemon, the
#     processes left in the namespaces, the namespaces, $tmp.
#
# How the output is shaped (docs/tutorials/README.md, test/e2e/tutorials_test.go):
# every command whose output the page shows is printed first as "$ COMMAND",
# the way the page writes it (vswitchctl without bin/, namespaces by their
# full name; the checker drops the vtuN-RANDOM- prefix). Each step starts with
# a line "== TITLE". Setup the page shows as a plain sh block runs unprinted.
# The root network namespace is never changed: every link, address, route
# and sysctl is made inside a namespace this script created.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
name=$(basename "$0" .sh)
BIN=$(cd "$repo" && cd "${VSWITCH_BIN:-bin}" 2>/dev/null && pwd) || BIN=$repo/bin
[ "$(id -u)" = 0 ] || { echo "$name: run as root (it creates network namespaces)" >&2; exit 1; }
[ -x "$BIN/vswitchd" ] && [ -x "$BIN/vswitchctl" ] || { echo "$name: run 'make build' first" >&2; exit 1; }
for c in ip ping ${NEEDS:-}; do
  command -v "$c" >/dev/null || { echo "$name: needs $c (apt-get install $c)" >&2; exit 1; }
done

suf=$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')
tmp=$(mktemp -d "/tmp/vswitch-tut$TUT.XXXXXX")
sock=$tmp/vswitchd.sock
made=()
bg=()
pid=""

cleanup() {
  set +e
  for p in "${bg[@]}"; do kill "$p" 2>/dev/null; done
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; fi
  for n in "${made[@]}"; do
    ip netns pids "$n" 2>/dev/null | xargs -r kill 2>/dev/null
    ip netns del "$n" 2>/dev/null
  done
  cd /
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cd "$tmp"

# vswitchctl finds the daemon through VSWITCH_SOCKET, as on the page.
export VSWITCH_SOCKET=$sock

step() { printf '\n== %s\n' "$*"; }
# say ARGS: print a command as the page shows it.
say() { printf '$ %s\n' "$*"; }
# ctl ARGS: vswitchctl, printed; qctl: the same, unprinted and silent.
ctl() { say "vswitchctl $*"; "$BIN/vswitchctl" "$@"; }
qctl() { "$BIN/vswitchctl" "$@" >/dev/null; }
# nsx NS CMD...: CMD inside NS, printed as `ip netns exec NS CMD...`.
nsx() { local n=$1; shift; say "ip netns exec $n $*"; ip netns exec "$n" "$@"; }
# ipn NS ARGS: `ip -n NS ARGS`, printed.
ipn() { say "ip -n $*"; ip -n "$@"; }
# nsq NS CMD...: CMD inside NS, unprinted.
nsq() { local n=$1; shift; ip netns exec "$n" "$@"; }

newns() {
  ns=vtu$TUT-$suf-$1
  ip netns add "$ns"
  made+=("$ns")
  nsq "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  nsq "$ns" ip link set lo up
}

start_daemon() {
  "$BIN/vswitchd" --socket "$sock" --state-dir "$tmp/state" "$@" 2>"$tmp/vswitchd.log" &
  pid=$!
  for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
  [ -S "$sock" ] || { cat "$tmp/vswitchd.log" >&2; exit 1; }
}

# capture_bg PORT COUNT FILE: `vswitchctl capture PORT -w FILE --count COUNT &`,
# printed; waits until the capture is attached. capture_wait waits for it (at
# most 5 s: fewer packets than COUNT end it there).
capture_bg() {
  say "vswitchctl capture $1 -w $3 --count $2 &"
  timeout 5 "$BIN/vswitchctl" capture "$1" -w "$3" --count "$2" 2>"$tmp/capture.err" &
  cap=$!
  bg+=("$cap")
  sleep 0.5
}
capture_wait() { wait "$cap" || true; cat "$tmp/capture.err"; }

# live_bg ARGS: `vswitchctl trace --live ARGS > FILE &`, printed as
# `vswitchctl trace --live ARGS &`; live_wait prints what it traced.
live_bg() {
  say "vswitchctl trace --live $* &"
  timeout 5 "$BIN/vswitchctl" trace --live "$@" >"$tmp/live.out" 2>&1 &
  live=$!
  bg+=("$live")
  sleep 0.5
}
live_wait() { wait "$live" || true; cat "$tmp/live.out"; }
