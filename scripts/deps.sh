#!/usr/bin/env bash
# Installs what the tests and the demo run, when it is missing (Debian).
set -euo pipefail
need=()
command -v ip >/dev/null || need+=(iproute2)
command -v iperf3 >/dev/null || need+=(iperf3)
command -v ping >/dev/null || need+=(iputils-ping)
command -v curl >/dev/null || need+=(curl)
command -v python3 >/dev/null || need+=(python3)
[ -x /usr/bin/python3 ] || need+=(python3)
/usr/bin/python3 -c "import scapy" 2>/dev/null || need+=(python3-scapy)
command -v tcpdump >/dev/null || need+=(tcpdump)
command -v tracepath >/dev/null || need+=(iputils-tracepath)
command -v systemd-analyze >/dev/null || need+=(systemd)   # the unit's verify (packaging/)
[ -f /usr/share/bash-completion/bash_completion ] || need+=(bash-completion)
command -v groff >/dev/null || need+=(groff-base)   # the man pages' render test (internal/manpage)
command -v man >/dev/null || need+=(man-db)         # the packaged man pages, read with man -l
command -v ovs-vswitchd >/dev/null || need+=(openvswitch-switch) # the VLAN-aware peer of the trunk tests (userspace datapath, in their namespaces)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "deps: missing ${need[*]}; install them as root (apt-get install ${need[*]})" >&2
  exit 1
fi
echo "deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Install, start nothing: openvswitch-switch's postinst would start OVS's
# daemons in this (root) namespace. The tests start their own, in their
# namespaces. policy-rc.d answering 101 is Debian's way to say so; one
# already there is left alone.
norc=
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod 0755 /usr/sbin/policy-rc.d
  norc=1
fi
apt-get install -y -qq "${need[@]}" >/dev/null
# an if, not `[ ] &&`: with a policy-rc.d already there, a false test as
# the last command would make the script fail after a good install
if [ -n "$norc" ]; then rm -f /usr/sbin/policy-rc.d; fi
