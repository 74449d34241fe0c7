#!/usr/bin/env bash
# Tutorial 6 (docs/tutorials/06-vxlan.md): two hosts simulated by
# namespaces, joined by VXLAN (RFC 7348). Host A runs vswitchd with an
# overlay network; host B is plain Linux: a vxlan device on a Linux bridge.
# The containers ping each other across the tunnel, tcpdump on the underlay
# shows standard VXLAN on UDP 4789 with VNI 42, and vswitchd lists what it
# learned behind the remote VTEP.
#
# Run as root after `make build`: sudo docs/tutorials/06-vxlan.sh
# Namespaces: vtu6-RANDOM-ula (host A's underlay), -hostb (host B), -c1
# (a container on vswitchd), -c2 (a container on host B's bridge). MACs are
# pinned so the output matches the page. The root network namespace is
# never changed.
TUT=6 NEEDS="tcpdump bridge"
. "$(dirname "$0")/lib.sh"

step "two hosts: host A's underlay namespace and host B, joined by a veth (the wire)"
newns ula; ULA=$ns
newns hostb; HOSTB=$ns
newns c1; C1=$ns
newns c2; C2=$ns
nsq "$ULA" ip link add u0 type veth peer name u0 netns "$HOSTB"
nsq "$ULA" ip addr add 192.168.50.1/24 dev u0
nsq "$ULA" ip link set u0 up
nsq "$HOSTB" ip addr add 192.168.50.2/24 dev u0
nsq "$HOSTB" ip link set u0 up

step "host B: a Linux VTEP (VNI 42) and a container on a Linux bridge"
nsx "$HOSTB" ip link add vx0 type vxlan id 42 dstport 4789 local 192.168.50.2 dev u0
nsq "$HOSTB" ip link add br0 type bridge
nsq "$HOSTB" ip link add cb type veth peer name eth0 netns "$C2"
nsq "$C2" ip link set eth0 address 02:42:0a:2a:00:14 mtu 1450 up
nsq "$C2" ip addr add 10.42.0.20/24 dev eth0
for l in vx0 cb; do nsq "$HOSTB" ip link set "$l" master br0 mtu 1450 up; done
nsq "$HOSTB" ip link set br0 up
nsx "$HOSTB" bridge fdb append 00:00:00:00:00:00 dev vx0 dst 192.168.50.1

step "host A: vswitchd, an overlay network on the same VNI, the remote VTEP, a container"
start_daemon --no-default-network
ctl network create ov --subnet 10.42.0.0/24 --vxlan-vni 42 --vxlan-dev u0 --vxlan-netns "$ULA" --vxlan-local 192.168.50.1
ctl network vtep add ov 192.168.50.2
ctl port add ov --netns "$C1" --name c1 --ip 10.42.0.10 --mac 02:42:0a:2a:00:0a
ctl port ls
nsx "$C1" cat /sys/class/net/eth0/mtu

step "the containers ping each other across the tunnel"
nsx "$C1" ping -c 2 -W 1 10.42.0.20
nsx "$C2" ping -c 2 -W 1 10.42.0.10

step "on the wire: UDP 4789, VNI 42, the container's frame inside"
say "ip netns exec $HOSTB tcpdump -nn -i u0 -c 2 udp port 4789 &"
nsq "$HOSTB" timeout 5 tcpdump -l -nn -i u0 -c 2 udp port 4789 >"$tmp/dump" 2>/dev/null &
bg+=($!)
dump=$!
sleep 0.5
nsx "$C1" ping -c 1 -W 1 10.42.0.20
wait "$dump" || true
cat "$tmp/dump"

step "what vswitchd learned behind the remote VTEP"
# Only the containers' MACs (02:42:...): the Linux bridge on host B also
# sends an IGMP report into the tunnel a random moment after it comes up,
# so its own random MAC is learned too, or not yet.
say "vswitchctl network vtep ls ov | grep -e VTEP -e 02:42"
"$BIN/vswitchctl" network vtep ls ov | grep -e VTEP -e 02:42
say "vswitchctl fdb show --network ov | grep -e MAC -e 02:42"
"$BIN/vswitchctl" fdb show --network ov | grep -e MAC -e 02:42

step "done; cleaning up"
