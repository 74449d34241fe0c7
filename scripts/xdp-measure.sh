#!/bin/bash
# Issue 17, the AF_XDP experiment: the same two client namespaces, each a
# veth whose other end is in vswitchd's namespace, attached to one network
# as afpacket or as xdp ports; two TAP ports (port add) of the same network
# for reference; and the same veths in a kernel bridge, the aim. Modes
# alternate ROUNDS times in one session. Per mode and round:
#   udp64  : trafgen, one process (own process group, killed as a group),
#            64-byte UDP for SECS s; offered = sender's tx, delivered =
#            receiver's rx (packets/s)
#   cpu    : vswitchd utime+stime over the udp64 run / delivered packets
#   tcp    : iperf3 -t SECS, Gbit/s
#   ping   : ping -c 200 -i 0.01, rtt avg
# Everything lives in namespaces made here (vsm-*), removed at the end; the
# root namespace is not touched. Usage: xdp-measure.sh BINDIR [ROUNDS] [SECS]
set -u
BIN=${1:?usage: xdp-measure.sh BINDIR [ROUNDS] [SECS]}
ROUNDS=${2:-3}
SECS=${3:-4}
P=vsm$$
D=$P-d C1=$P-c1 C2=$P-c2 T1=$P-t1 T2=$P-t2
DIR=$(mktemp -d /tmp/$P.XXXX)
SOCK=$DIR/sock
ctl() { "$BIN/vswitchctl" --socket "$SOCK" "$@"; }
DPID=
cleanup() {
	[ -n "${TG:-}" ] && kill -KILL -- -"$TG" 2>/dev/null
	[ -n "$DPID" ] && kill -TERM "$DPID" 2>/dev/null && sleep 1
	for n in $D $C1 $C2 $T1 $T2; do ip netns del $n 2>/dev/null; done
}
trap cleanup EXIT

for n in $D $C1 $C2 $T1 $T2; do
	ip netns add $n
	ip netns exec $n sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
	ip -n $n link set lo up
done
i=0
for c in $C1 $C2; do
	i=$((i + 1))
	ip -n $D link add v$i type veth peer name eth0 netns $c
	ip -n $D link set v$i up
	ip -n $c addr add 10.221.0.2$i/24 dev eth0
	ip -n $c link set eth0 up
done

ip netns exec $D setsid "$BIN/vswitchd" --socket "$SOCK" --state-dir "$DIR/state" --no-default-network \
	--log-level warn >"$DIR/vswitchd.log" 2>&1 &
DPID=$!
for _ in $(seq 100); do ctl version >/dev/null 2>&1 && break; sleep 0.1; done
ctl network create lan --subnet 10.221.0.0/24 >/dev/null
ctl port add lan --netns $T1 --ifname eth0 --ip 10.221.0.11 >/dev/null
ctl port add lan --netns $T2 --ifname eth0 --ip 10.221.0.12 >/dev/null
echo "# vswitchd pid $DPID, $(nproc) CPUs, kernel $(uname -r), $(date -u +%FT%TZ)"

mode_set() { # afpacket | xdp | bridge
	ctl port rm p1 >/dev/null 2>&1
	ctl port rm p2 >/dev/null 2>&1
	ip -n $D link del br0 2>/dev/null
	case $1 in
	afpacket | xdp)
		ctl port attach lan --dev v1 --name p1 --kind "$1" >/dev/null || exit 1
		ctl port attach lan --dev v2 --name p2 --kind "$1" >/dev/null || exit 1
		;;
	bridge)
		ip -n $D link add br0 type bridge
		ip -n $D link set v1 master br0
		ip -n $D link set v2 master br0
		ip -n $D link set br0 up
		;;
	esac
	sleep 0.5
}

cpu_ticks() { awk '{print $14 + $15}' /proc/$DPID/stat; }
cnt() { ip netns exec "$1" cat /sys/class/net/eth0/statistics/"$2"; }

measure() { # mode src dst dstip
	local mode=$1 src=$2 dst=$3 ip=$4
	ip netns exec "$src" ping -c 3 -i 0.2 -W 1 "$ip" >/dev/null || echo "# $mode: ping before the run failed"
	local dmac smac
	dmac=$(ip -n "$dst" -br link show eth0 | awk '{print $3}')
	smac=$(ip -n "$src" -br link show eth0 | awk '{print $3}')
	local sip
	sip=$(ip -n "$src" -4 -br addr show eth0 | awk '{print $3}' | cut -d/ -f1)
	cat >"$DIR/tg.cfg" <<EOF
{ eth(da=$dmac, sa=$smac), ipv4(saddr=$sip, daddr=$ip, ttl=64), udp(sp=4000, dp=9), fill(0x41, 18) }
EOF
	local tx0 rx0 c0 tx1 rx1 c1
	tx0=$(cnt "$src" tx_packets)
	rx0=$(cnt "$dst" rx_packets)
	c0=$(cpu_ticks)
	ip netns exec "$src" setsid trafgen --dev eth0 -c "$DIR/tg.cfg" --cpus 1 --no-sock-mem -q >/dev/null 2>&1 &
	TG=$!
	sleep "$SECS"
	kill -INT -- -"$TG" 2>/dev/null
	sleep 0.3
	kill -KILL -- -"$TG" 2>/dev/null
	wait "$TG" 2>/dev/null
	TG=
	c1=$(cpu_ticks)
	tx1=$(cnt "$src" tx_packets)
	sleep 0.5
	rx1=$(cnt "$dst" rx_packets)
	local off=$(((tx1 - tx0) / SECS)) del=$(((rx1 - rx0) / SECS))
	local cpu=-
	if [ "$mode" != bridge ] && [ $((rx1 - rx0)) -gt 0 ]; then
		cpu=$(((c1 - c0) * 10000000 / (rx1 - rx0))) # ticks of 10 ms -> ns per delivered packet
	fi
	sleep 1
	ip netns exec "$dst" iperf3 -s -1 -B "$ip" >/dev/null 2>&1 &
	local ipid=$!
	sleep 0.5
	local gbps
	gbps=$(ip netns exec "$src" iperf3 -c "$ip" -t "$SECS" -J 2>/dev/null |
		python3 -c 'import json,sys; print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9))' 2>/dev/null)
	wait $ipid 2>/dev/null
	local rtt
	rtt=$(ip netns exec "$src" ping -q -c 200 -i 0.01 "$ip" 2>/dev/null | awk -F/ '/^rtt/ {print $5}')
	printf "%-8s round %d  udp64 offered %7d delivered %7d pps  cpu/pkt %6s ns  tcp %6s Gbit/s  ping avg %s ms\n" \
		"$mode" "$r" "$off" "$del" "$cpu" "${gbps:--}" "${rtt:--}"
}

for r in $(seq "$ROUNDS"); do
	for mode in afpacket xdp tap bridge; do
		case $mode in
		tap)
			mode_set none
			measure tap $T1 $T2 10.221.0.12
			;;
		*)
			mode_set $mode
			if [ $mode = xdp ] && [ $r = 1 ]; then
				echo "# with xdp on v1: c1 eth0 offloads: $(ip netns exec $C1 ethtool -k eth0 2>/dev/null | grep -E '^(tcp-segmentation-offload|generic-segmentation-offload|tx-checksumming):' | tr -s ' \n' ' ')"
			fi
			measure $mode $C1 $C2 10.221.0.22
			;;
		esac
	done
done
ctl stats -o json >"$DIR/stats.json" 2>/dev/null
echo "# log and stats in $DIR"
