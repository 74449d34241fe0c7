#!/usr/bin/env bash
# make demo: vswitchd on its embedded default network `bridge` (172.17.0.0/16,
# gateway 172.17.0.1, like docker0), three namespaces plugged in, pings, an
# HTTP request, a TCP transfer, then the MAC table and the counters.
# Everything lives in namespaces made here and goes away on exit, Ctrl-C or
# failure; the root namespace is never touched.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "demo: run as root (it creates network namespaces)" >&2; exit 1; }
bin=${VSWITCH_BIN:-bin} # where vswitchd and vswitchctl are (make demo builds bin/)
[ -x "$bin/vswitchd" ] && [ -x "$bin/vswitchctl" ] || { echo "demo: no $bin/vswitchd or $bin/vswitchctl: run 'make demo' (it builds them)" >&2; exit 1; }

suf=$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')
tmp=$(mktemp -d /tmp/vswitch-demo.XXXXXX)
sock=$tmp/vswitchd.sock
ns=(vsd-$suf-c1 vsd-$suf-c2 vsd-$suf-c3)
out=(vsd-$suf-host vsd-$suf-host2) # the host side of the uplink, and another machine
all=("${ns[@]}" "${out[@]}")
pid=""

cleanup() {
  set +e
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  for n in "${all[@]}"; do
    ip netns pids "$n" 2>/dev/null | xargs -r kill 2>/dev/null
    ip netns del "$n" 2>/dev/null
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ctl() { "$bin/vswitchctl" --socket "$sock" "$@"; }
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
nsx() { local n=$1; shift; ip netns exec "$n" "$@"; }

for n in "${all[@]}"; do
  ip netns add "$n"
  nsx "$n" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
done

say "start vswitchd (state in $tmp)"
"$bin/vswitchd" --socket "$sock" --state-dir "$tmp/state" 2>"$tmp/vswitchd.log" &
pid=$!
for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || { cat "$tmp/vswitchd.log"; exit 1; }
ctl network ls
# Every packet the pipeline drops from here on, with its trace: the counters
# at the end say how many frames were dropped and why, this says which.
# (not through ctl: $! must be vswitchctl itself, which a background job's
# ignored SIGINT would not reach through a subshell)
"$bin/vswitchctl" --socket "$sock" trace --live --drops --count 100 >"$tmp/drops.txt" 2>&1 &
tracer=$!

say "plug three namespaces into the default network"
for n in "${ns[@]}"; do ctl port add bridge --netns "$n"; done
ctl port ls
ip1=172.17.0.2 ip2=172.17.0.3 ip3=172.17.0.4

say "each pings its gateway 172.17.0.1 (vswitchd answers ARP and ping for it)"
nsx "${ns[0]}" ping -c 1 -W 1 172.17.0.1

say "ping between them (no bridge device, no iptables rule)"
nsx "${ns[0]}" ping -c 2 -W 1 $ip2
nsx "${ns[1]}" ping -c 2 -W 1 $ip3
nsx "${ns[2]}" ping -c 2 -W 1 $ip1

say "HTTP from c1 to a web server in c2"
mkdir -p "$tmp/www" && echo "hello from ${ns[1]} through vswitchd" > "$tmp/www/index.html"
nsx "${ns[1]}" /usr/bin/python3 -m http.server 8080 --bind $ip2 --directory "$tmp/www" >/dev/null 2>&1 &
for _ in $(seq 50); do nsx "${ns[0]}" curl -s -o /dev/null --max-time 1 http://$ip2:8080/ && break; sleep 0.1; done
nsx "${ns[0]}" curl -sS --max-time 5 http://$ip2:8080/

say "TCP throughput c1 -> c3 (iperf3, 3 s; GSO super-frames cross vswitchd whole)"
nsx "${ns[2]}" iperf3 -s -1 -D -B $ip3
sleep 0.3
nsx "${ns[0]}" iperf3 -c $ip3 -t 3 -f g | grep -E 'sender|receiver'

say "an uplink to host2 (10.0.12.11): the network masquerades to 10.0.12.15, as docker0 with MASQUERADE"
# A veth made inside host2 with its peer in the host namespace; vswitchd owns
# 10.0.12.15 on the host end, which has no address of its own.
nsx "${out[1]}" ip link add x0 type veth peer name u0 netns "${out[0]}"
nsx "${out[1]}" ip addr add 10.0.12.11/24 dev x0
nsx "${out[1]}" ip link set x0 up
nsx "${out[0]}" ip link set u0 up
ctl uplink add --dev u0 --netns "${out[0]}" --ip 10.0.12.15/24 --gateway 10.0.12.11
# host2 answers every request with the address it saw the request come from.
cat > "$tmp/whoami.py" <<'PY'
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        b = ("host2 saw the request come from %s\n" % self.client_address[0]).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(b))); self.end_headers(); self.wfile.write(b)
    def log_message(self, *a): pass
http.server.HTTPServer((sys.argv[1], 80), H).serve_forever()
PY
nsx "${out[1]}" /usr/bin/python3 "$tmp/whoami.py" 10.0.12.11 &
for _ in $(seq 50); do nsx "${ns[0]}" curl -s -o /dev/null --max-time 1 http://10.0.12.11/ && break; sleep 0.1; done
nsx "${ns[0]}" curl -sS --max-time 5 http://10.0.12.11/

say "publish c2:8080 as port 8000 (docker run -p 8000:8080): host2 and c3 (hairpin) fetch it"
ctl publish add bridge --proto tcp --port 8000 --to $ip2:8080
ctl publish ls
nsx "${out[1]}" curl -sS --max-time 5 http://10.0.12.15:8000/
nsx "${ns[2]}" curl -sS --max-time 5 http://10.0.12.15:8000/
ctl conntrack show

say "the MAC table (fdb show) and the gateway's neighbours (arp show)"
ctl fdb show
ctl arp show

say "counters (stats): RX-GSO counts 64 KiB super-frames"
ctl stats

say "which packets those drops were (vswitchctl trace --live --drops, running since the start)"
kill -TERM "$tracer" 2>/dev/null; wait "$tracer" 2>/dev/null || true
cat "$tmp/drops.txt"

say "done: removing the ports and namespaces"
for n in "${ns[@]}"; do ctl port rm "$n"; done
ctl uplink rm uplink 2>/dev/null || true
