#!/usr/bin/env bash
# Tutorial 3 (docs/tutorials/03-docker-default-bridge.md): SCENARIOS.md
# setup 2, Docker's default bridge network by hand. Three containers on
# vswitchd's default network `bridge` run web servers that answer their own
# names; the host reaches them through a port of its own; they reach host2
# behind the uplink, which sees the uplink address (masquerade); host2
# reaches container1 through a published port (docker run -p 8000:8080), and
# so do the containers themselves (hairpin). No iptables rule anywhere.
#
# Run as root after `make build`: sudo docs/tutorials/03-docker-default-bridge.sh
# Namespaces are vtu3-RANDOM-ROLE (never yours); ports keep short names
# (--name) and pinned MACs (--mac, host2's veth `address`), so the output
# matches the page. docs/tutorials/lib.sh has the helpers, the cleanup (on
# every exit path) and the output convention test/e2e/tutorials_test.go
# checks. The uplink's veth is created inside host2 with its peer placed
# straight into the namespace vsw, and "the host" is a namespace too: nothing
# is ever changed in the root network namespace.
TUT=3 NEEDS="curl tcpdump python3"
. "$(dirname "$0")/lib.sh"

# tcpdump_bg NS IF COUNT FILTER...: tcpdump in the background on IF of NS
# until COUNT packets matched or 5 s passed, printed; shown prints what it saw.
tcpdump_bg() {
  local n=$1 i=$2 c=$3; shift 3
  say "ip netns exec $n timeout 5 tcpdump -lni $i -c $c $* &"
  nsq "$n" timeout 5 tcpdump -lni "$i" -c "$c" "$@" >"$tmp/tcpdump.out" 2>/dev/null &
  cap=$!
  bg+=("$cap")
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
  nsq "$1" python3 "$tmp/web.py" "$2" "$3" "$4" "$tmp/$2.log" >/dev/null 2>&1 &
  for _ in $(seq 50); do
    nsq "$1" ss -Hltn "sport = :$4" | grep -q . && return 0
    sleep 0.1
  done
  echo "web server $2 did not start" >&2
  return 1
}
# seen NAME: the last client the server NAME logged.
seen() { sleep 0.2; say "tail -n1 $1.log"; tail -n1 "$tmp/$1.log"; }

step "namespaces container1-3, host (the Docker host), host2 (another machine), vsw (holds the uplink's interface); vswitchd creates the default network bridge, like docker0"
newns container1; C1=$ns
newns container2; C2=$ns
newns container3; C3=$ns
newns host; HOST=$ns
newns host2; HOST2=$ns
newns vsw; VSW=$ns
start_daemon
ctl network ls

step "three containers at 172.17.0.101-103, each with a web server on :8080"
ctl port add bridge --netns "$C1" --name container1 --ip 172.17.0.101 --mac 02:42:ac:11:00:65
ctl port add bridge --netns "$C2" --name container2 --ip 172.17.0.102 --mac 02:42:ac:11:00:66
ctl port add bridge --netns "$C3" --name container3 --ip 172.17.0.103 --mac 02:42:ac:11:00:67
web "$C1" container1 172.17.0.101 8080
web "$C2" container2 172.17.0.102 8080
web "$C3" container3 172.17.0.103 8080
ipn "$C1" route show

step "the containers fetch each other's pages"
nsx "$C1" curl -s 172.17.0.102:8080
nsx "$C2" curl -s 172.17.0.103:8080
nsx "$C3" curl -s 172.17.0.101:8080
seen container1

step "the host: a port of its own on bridge (docker0's address is the gateway's; the host gets one beside it)"
ctl port add bridge --netns "$HOST" --name host --ifname vsw0 --ip 172.17.0.254 --mac 02:42:ac:11:00:fe --no-default-route
nsx "$HOST" ping -c 1 -W 1 172.17.0.101
nsx "$HOST" curl -s 172.17.0.101:8080
seen container1

step "host2 (10.0.12.11) on a link to the uplink, which plays the host's 10.0.12.15; host2 has no route to 172.17.0.0/16"
ip -n "$HOST2" link add eth0 address 02:00:0a:00:0c:0b type veth peer name up0 netns "$VSW"
ip -n "$HOST2" addr add 10.0.12.11/24 dev eth0
ip -n "$HOST2" link set eth0 up
ctl uplink add --dev up0 --netns "$VSW" --ip 10.0.12.15/24 --gateway 10.0.12.11
ipn "$HOST2" route show
web "$HOST2" host2 10.0.12.11 8080

step "container1 reaches host2, which sees the uplink address: masquerade"
tcpdump_bg "$HOST2" eth0 4 icmp
nsx "$C1" ping -c 2 -W 1 10.0.12.11
shown
nsx "$C1" curl -s 10.0.12.11:8080
seen host2

step "trace of an outbound packet: the masquerade rewrite"
ctl trace --in container1 --dst 10.0.12.11 --dport 8080

step "docker run -p 8000:8080, for container1"
ctl publish add bridge --proto tcp --port 8000 --to 172.17.0.101:8080
ctl publish ls

step "trace of an inbound packet to the published port: the DNAT"
ctl trace --in uplink --src 10.0.12.11 --dst 10.0.12.15 --dport 8000

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
# (a missing iptables-save or nft counts as none)
say "for n in container1 container2 container3 host host2 vsw; do echo \"\$n: iptables rules: \$(ip netns exec \$n iptables-save 2>/dev/null | grep -c '^-A'), nftables ruleset lines: \$(ip netns exec \$n nft list ruleset 2>/dev/null | wc -l)\"; done"
for n in "${made[@]}"; do
  echo "${n#vtu3-$suf-}: iptables rules: $(ip netns exec "$n" iptables-save 2>/dev/null | grep -c '^-A'), nftables ruleset lines: $(ip netns exec "$n" nft list ruleset 2>/dev/null | wc -l)"
done

step "done; cleaning up"
