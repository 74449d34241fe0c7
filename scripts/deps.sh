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
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "deps: missing ${need[*]}; install them as root (apt-get install ${need[*]})" >&2
  exit 1
fi
echo "deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${need[@]}" >/dev/null
