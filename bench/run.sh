#!/usr/bin/env bash
# bench/run.sh [--quick] [vsbench run flags ...]
#
# The entry point of `make bench` (full: 3 alternating pairs, 3 s
# measurements, ≤ 20 min) and `make bench-quick` (--quick: 1 pair, 2 s,
# ≤ 4 min). Installs the Debian packages the harness drives when they are
# missing, builds vswitchd/vswitchctl and the harness, and runs it as root.
# Writes bench/results/latest.{json,md,png} and prints the table.
# Everything happens in namespaces named vsb-RUNID-*, removed on every exit
# path; the root network namespace is never changed. See docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=full
args=()
peers=""
prev=""
for a in "$@"; do
	case "$a" in
	--quick) mode=quick ;;
	--full) mode=full ;;
	--peers=*) peers="${a#--peers=}"; args+=("$a") ;;
	*) args+=("$a") ;;
	esac
	if [ "$prev" = "--peers" ] || [ "$prev" = "-peers" ]; then peers="$a"; fi
	prev="$a"
done

if [ "$(id -u)" -ne 0 ]; then
	echo "bench/run.sh: needs root (it creates network namespaces; the root namespace is left alone)" >&2
	exit 1
fi

# Tools the harness drives, by command → Debian package.
need=()
want() { command -v "$1" >/dev/null 2>&1 || need+=("$2"); }
want ip iproute2
want ss iproute2
want iptables-restore iptables
want ip6tables-restore iptables
want iperf3 iperf3
want sockperf sockperf
want ping iputils-ping
want sysctl procps
if [ "${#need[@]}" -gt 0 ]; then
	mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
	echo "bench/run.sh: installing ${need[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	# another install may hold the dpkg lock: wait for it rather than fail
	apt-get -o DPkg::Lock::Timeout=600 update -q
	apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${need[@]}"
fi

# Open vSwitch, the third column (issue 9), unless --peers leaves it out.
# Its Debian package would start the system's ovsdb-server and
# ovs-vswitchd on install; a policy-rc.d that exits 101 ("action
# forbidden") keeps invoke-rc.d and deb-systemd-invoke from starting them.
# The harness runs private daemons of its own inside its namespaces.
if [ -z "$peers" ] || [[ ",$peers," == *,ovs,* ]]; then
	if ! command -v ovs-vswitchd >/dev/null 2>&1 || ! command -v ovsdb-server >/dev/null 2>&1; then
		echo "bench/run.sh: installing openvswitch-switch (its services kept from starting)" >&2
		policy=/usr/sbin/policy-rc.d
		saved=""
		if [ -e "$policy" ]; then
			saved=$(mktemp)
			cp -p "$policy" "$saved"
		fi
		printf '#!/bin/sh\n# bench/run.sh: no service starts while openvswitch-switch installs\nexit 101\n' >"$policy"
		chmod 755 "$policy"
		export DEBIAN_FRONTEND=noninteractive
		ok=1
		apt-get -o DPkg::Lock::Timeout=600 update -q || ok=0
		if [ "$ok" = 1 ]; then
			apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends openvswitch-switch || ok=0
		fi
		if [ -n "$saved" ]; then mv "$saved" "$policy"; else rm -f "$policy"; fi
		if [ "$ok" = 0 ]; then
			echo "bench/run.sh: openvswitch-switch did not install; the ovs column will say so" >&2
		fi
	fi
	# a system instance (started by something else) is not ours to use or stop
	if pgrep -x ovs-vswitchd >/dev/null 2>&1; then
		echo "bench/run.sh: note: an ovs-vswitchd not started by the harness is running; the harness leaves it alone and runs its own" >&2
	fi
fi

# vswitchd and vswitchctl: `make build` when the Makefile has it. A build
# that fails is not papered over with an old binary: the vswitch side then
# reports the build error and the kernel side is still measured.
build_log=$(mktemp)
trap 'rm -f "$build_log"' EXIT
if [ -f Makefile ] && grep -q '^build:' Makefile; then
	build=(make build)
else
	build=(go build -o bin/ ./cmd/...)
fi
echo "bench/run.sh: ${build[*]}" >&2
if ! "${build[@]}" >"$build_log" 2>&1; then
	cat "$build_log" >&2
	# the first compiler error says more than make's closing line
	why=$(grep -m 1 -E '\.go:[0-9]+(:[0-9]+)?: ' "$build_log" || grep -v '^\s*$' "$build_log" | tail -n 1)
	reason="vswitchd build failed (${build[*]}): $why"
	echo "bench/run.sh: $reason; measuring the kernel side only" >&2
	args=(--vswitchd-error "$reason" "${args[@]}")
fi

mkdir -p bench/bin
go build -o bench/bin/vsbench ./bench/cmd/vsbench
# namespaces of earlier runs that were killed outright (live runs are kept)
bench/bin/vsbench clean
exec bench/bin/vsbench run --mode "$mode" "${args[@]}"
