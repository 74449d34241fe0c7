#!/usr/bin/env bash
# Tutorial 3 (docs/tutorials/03-docker-default-bridge.md): SCENARIOS.md
# setup 2, Docker's default bridge network by hand. Three containers on
# vswitchd's default network `bridge` run web servers that answer their own
# names; the host reaches them through a port of its own; they reach host2
# behind the uplink, which sees the uplink address (masquerade); host2
# reaches container1 through a published port (docker run -p 8000:8080), and
# so do the containers themselves (hairpin). No iptables rule anywhere.
#
# Run as root from anywhere, after `make build`. Namespaces are named
# vtu3-<random>-ROLE so the script never meets namespaces of yours; ports
# keep short names (--name) so the output matches the page. vswitchd gets its
# own socket and state directory in a temporary directory. The uplink's veth
# is created inside host2 with its peer placed straight into the namespace
# vsw, and "the host" is a namespace too: nothing is ever changed in the root
# network namespace. Everything goes away when the script exits, fails or is
# interrupted.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(id -u)" = 0 ] || { echo "03-docker-default-bridge: run as root (it creates network namespaces)" >&2; exit 1; }
[ -x bin/vswitchd ] && [ -x bin/vswitchctl ] || { echo "03-docker-default-bridge: run 'make build' first" >&2; exit 1; }
for c in curl tcpdump python3; do
  command -v $c >/dev/null || { echo "03-docker-default-bridge: needs $c (apt-get install $c)" >&2; exit 1; }
done

suf=$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')
tmp=$(mktemp -d /tmp/vswitch-tut3.XXXXXX)
sock=$tmp/vswitchd.sock
C1=vtu3-$suf-container1
C2=vtu3-$suf-container2
C3=vtu3-$suf-container3
HOST=vtu3-$suf-host
HOST2=vtu3-$suf-host2
VSW=vtu3-$suf-vsw
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
  nsx "$1" ip link set lo up
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

# The web server of the article: it answers its own name and logs the
# address of each client to $tmp/NAME.log ("NAME: GET / from IP").
cat >"$tmp/web.py" <<'EOF'
import http.server, socketserver, sys
name, addr, port, log = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with open(log, "a") as f:
            f.write("%s: GET %s from %s\n" % (name, self.path, self.client_address[0]))
        body = (name + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # HTTPServer.server_bind asks DNS for the name of the address (getfqdn),
    # which waits out the resolver's timeout in a namespace with no DNS.
    def server_bind(self):
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]
S((addr, port), H).serve_forever()
EOF
# web NS NAME ADDR PORT: start the server and wait until it listens.
web() {
  nsx "$1" python3 "$tmp/web.py" "$2" "$3" "$4" "$tmp/$2.log" >/dev/null 2>&1 &
  for _ in $(seq 50); do
    nsx "$1" ss -Hltn "sport = :$4" | grep -q . && return 0
    sleep 0.1
  done
  echo "web server $2 did not start" >&2
  return 1
}
# seen NAME: the last client the server NAME logged.
seen() { sleep 0.2; tail -n1 "$tmp/$1.log"; }

step "namespaces container1-3, host (the Docker host), host2 (another machine), vsw (holds the uplink's interface)"
for n in "$C1" "$C2" "$C3" "$HOST" "$HOST2" "$VSW"; do newns "$n"; done

step "start vswitchd (socket and state in $tmp); it creates the default network bridge, like docker0"
bin/vswitchd --socket "$sock" --state-dir "$tmp/state" 2>"$tmp/vswitchd.log" &
pid=$!
for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || { cat "$tmp/vswitchd.log" >&2; exit 1; }
ctl network ls

step "three containers at 172.17.0.101-103, each with a web server on :8080"
ctl port add bridge --netns "$C1" --name container1 --ip 172.17.0.101
ctl port add bridge --netns "$C2" --name container2 --ip 172.17.0.102
ctl port add bridge --netns "$C3" --name container3 --ip 172.17.0.103
web "$C1" container1 172.17.0.101 8080
web "$C2" container2 172.17.0.102 8080
web "$C3" container3 172.17.0.103 8080
ip -n "$C1" route show

step "the containers fetch each other's pages"
nsx "$C1" curl -s 172.17.0.102:8080
nsx "$C2" curl -s 172.17.0.103:8080
nsx "$C3" curl -s 172.17.0.101:8080
seen container1

step "the host: a port of its own on bridge (docker0's address is the gateway's; the host gets one beside it)"
ctl port add bridge --netns "$HOST" --name host --ifname vsw0 --ip 172.17.0.254 --no-default-route
nsx "$HOST" ping -c 1 -W 1 172.17.0.101
nsx "$HOST" curl -s 172.17.0.101:8080
seen container1

step "host2 (10.0.12.11) on a link to the uplink, which plays the host's 10.0.12.15; host2 has no route to 172.17.0.0/16"
ip -n "$HOST2" link add eth0 type veth peer name up0 netns "$VSW"
ip -n "$HOST2" addr add 10.0.12.11/24 dev eth0
ip -n "$HOST2" link set eth0 up
ctl uplink add --dev up0 --netns "$VSW" --ip 10.0.12.15/24 --gateway 10.0.12.11
ip -n "$HOST2" route show
web "$HOST2" host2 10.0.12.11 8080

step "container1 reaches host2, which sees the uplink address: masquerade"
capture "$HOST2" eth0 4 icmp
nsx "$C1" ping -c 2 -W 1 10.0.12.11
shown
nsx "$C1" curl -s 10.0.12.11:8080
seen host2

step "docker run -p 8000:8080, for container1"
ctl publish add bridge --proto tcp --port 8000 --to 172.17.0.101:8080
ctl publish ls

step "host2 fetches 10.0.12.15:8000 and gets container1, which sees host2's own address"
nsx "$HOST2" curl -s 10.0.12.15:8000
seen container1

step "hairpin: container2 through the uplink address and through its gateway, container1 through its own published port"
nsx "$C2" curl -s 10.0.12.15:8000
seen container1
nsx "$C2" curl -s 172.17.0.1:8000
seen container1
nsx "$C1" curl -s 10.0.12.15:8000
seen container1

step "what vswitchd tracks"
ctl conntrack show --proto tcp

step "and no packet filter rule in any of the namespaces"
for n in "${made[@]}"; do
  printf '%s: ' "${n#vtu3-$suf-}"
  rules=0
  if command -v iptables-save >/dev/null; then rules=$(nsx "$n" iptables-save | grep -c '^-A' || true); fi
  nft=0
  if command -v nft >/dev/null; then nft=$(nsx "$n" nft list ruleset | wc -l); fi
  echo "iptables rules: $rules, nftables ruleset lines: $nft"
done

step "done; cleaning up"
