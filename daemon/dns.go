package daemon

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"vswitch/internal/netns"
)

// Embedded DNS, as Docker does it: every namespace with a TAP port gets a
// resolver on 127.0.0.11:53 (UDP and TCP) inside that namespace. It answers
// the names (and aliases) of the ports on the networks that namespace is
// on, and forwards everything else to the daemon's upstreams. The sockets
// are opened on a thread inside the namespace (netns.Do): a socket keeps the
// namespace it was made in, so the serving goroutines need no setns.
//
// The name table is rebuilt under d.mu on every port change and published
// through an atomic pointer: the resolver goroutines read it without a lock,
// so a query never waits on the daemon's mutex (and Close, which holds it,
// can wait for them).

// DNSAddr is where the resolver listens inside each namespace.
const DNSAddr = "127.0.0.11:53"

// dnsTTL is the TTL of the answers for port names, Docker's.
const dnsTTL = 600

// dnsForwardTimeout bounds one exchange with one upstream.
const dnsForwardTimeout = 2 * time.Second

// dnsTable is what the resolvers answer from.
type dnsTable struct {
	names map[string]map[string]dnsAddrs // network -> lower-case name -> addresses
	ptrs  map[string]map[string]string   // network -> reverse name (d.c.b.a.in-addr.arpa, ...ip6.arpa) -> NAME.NETWORK.
	nets  map[string][]string            // namespace path -> networks it has a port on
}

// dnsAddrs is what a name answers: its A and, on a dual-stack network, its
// AAAA (either may be absent).
type dnsAddrs struct{ v4, v6 netip.Addr }

// dnsResolver is one namespace's listeners.
type dnsResolver struct {
	nsPath  string
	servers []*dns.Server
}

// dnsRT is the daemon's DNS side.
type dnsRT struct {
	table     atomic.Pointer[dnsTable]
	upstreams []string // host:port
	resolvers map[string]*dnsResolver
}

// ParseDNSUpstreams checks --dns-upstream values (each IP or IP:PORT, or a
// comma list of them) and returns them as host:port, port 53 by default.
func ParseDNSUpstreams(vals []string) ([]string, error) {
	var out []string
	for _, v := range vals {
		for _, s := range strings.Split(v, ",") {
			s = strings.TrimSpace(s)
			if s == "" {
				continue
			}
			if a, err := netip.ParseAddr(s); err == nil {
				out = append(out, netip.AddrPortFrom(a, 53).String())
				continue
			}
			ap, err := netip.ParseAddrPort(s)
			if err != nil || ap.Port() == 0 {
				return nil, fmt.Errorf("bad DNS upstream %q: want IP or IP:PORT, e.g. 192.0.2.53 or [2001:db8::53]:5353", s)
			}
			out = append(out, ap.String())
		}
	}
	return out, nil
}

// dnsName is the table's form of a name: lower case, no trailing dot.
func dnsName(s string) string {
	return strings.ToLower(strings.TrimSuffix(s, "."))
}

// buildDNSTableLocked collects the names of the ports that have an address:
// each port name and alias, alone and followed by its network's name (as
// Docker answers c2 and c2.mynet), with its IPv4 address (A) and on a
// dual-stack network its IPv6 one (AAAA), and the reverse names of both,
// answered with NAME.NETWORK.
func (d *Daemon) buildDNSTableLocked() *dnsTable {
	t := &dnsTable{names: map[string]map[string]dnsAddrs{}, ptrs: map[string]map[string]string{}, nets: map[string][]string{}}
	for _, p := range d.st.Ports {
		a := dnsAddrs{v4: p.IP.Addr(), v6: p.IP6.Addr()}
		if !a.v4.IsValid() && !a.v6.IsValid() {
			continue
		}
		m := t.names[p.Network]
		if m == nil {
			m = map[string]dnsAddrs{}
			t.names[p.Network] = m
			t.ptrs[p.Network] = map[string]string{}
		}
		netw := dnsName(p.Network)
		for _, n := range append([]string{p.Name}, p.Aliases...) {
			m[dnsName(n)] = a
			m[dnsName(n)+"."+netw] = a
		}
		for _, ip := range []netip.Addr{a.v4, a.v6} {
			if !ip.IsValid() {
				continue
			}
			if rev, err := dns.ReverseAddr(ip.String()); err == nil {
				t.ptrs[p.Network][dnsName(rev)] = dnsName(p.Name) + "." + netw + "."
			}
		}
		if p.Kind == "tap" && p.NetnsPath != "" {
			nets := t.nets[p.NetnsPath]
			if !containsStr(nets, p.Network) {
				t.nets[p.NetnsPath] = append(nets, p.Network)
			}
		}
	}
	return t
}

func containsStr(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// syncDNSLocked publishes the name table and opens or closes resolvers so
// that every namespace with an up TAP port has one.
func (d *Daemon) syncDNSLocked() {
	if d.dns.resolvers == nil {
		d.dns.resolvers = map[string]*dnsResolver{}
	}
	t := d.buildDNSTableLocked()
	d.dns.table.Store(t)
	want := map[string]bool{}
	for _, rt := range d.ports {
		c := rt.cfg
		if c.Kind == "tap" && c.NetnsPath != "" && rt.io != nil {
			want[c.NetnsPath] = true
		}
	}
	for path, r := range d.dns.resolvers {
		if !want[path] {
			r.close()
			delete(d.dns.resolvers, path)
		}
	}
	for path := range want {
		if d.dns.resolvers[path] != nil {
			continue
		}
		r, err := d.startResolver(path)
		if err != nil {
			// The port works without it; the user learns why names fail.
			d.log.Warn("no embedded DNS in namespace", "netns", path, "err", err)
			continue
		}
		d.dns.resolvers[path] = r
		d.log.Debug("embedded DNS listening", "netns", path, "addr", DNSAddr)
	}
}

// closeDNSLocked closes every resolver (daemon stop).
func (d *Daemon) closeDNSLocked() {
	for path, r := range d.dns.resolvers {
		r.close()
		delete(d.dns.resolvers, path)
	}
}

// startResolver opens 127.0.0.11:53 (UDP and TCP) inside the namespace and
// serves it.
func (d *Daemon) startResolver(nsPath string) (*dnsResolver, error) {
	var pc net.PacketConn
	var ln net.Listener
	err := netns.Do(nsPath, func() error {
		var err error
		if pc, err = net.ListenPacket("udp4", DNSAddr); err != nil {
			return err
		}
		if ln, err = net.Listen("tcp4", DNSAddr); err != nil {
			pc.Close()
			return err
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot listen on %s: %v", DNSAddr, err)
	}
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		netw := "udp"
		if _, ok := w.RemoteAddr().(*net.TCPAddr); ok {
			netw = "tcp"
		}
		var fwd func(*dns.Msg) *dns.Msg
		if len(d.dns.upstreams) > 0 {
			fwd = func(q *dns.Msg) *dns.Msg { return forwardDNS(d.dns.upstreams, netw, q) }
		}
		t := d.dns.table.Load()
		resp := answerDNS(t, t.nets[nsPath], r, fwd)
		w.WriteMsg(resp)
	})
	r := &dnsResolver{nsPath: nsPath, servers: []*dns.Server{
		{PacketConn: pc, Handler: h},
		{Listener: ln, Handler: h},
	}}
	// Shutdown refuses a server that has not started: wait for both.
	var wg sync.WaitGroup
	for _, s := range r.servers {
		wg.Add(1)
		s.NotifyStartedFunc = wg.Done
		go s.ActivateAndServe()
	}
	wg.Wait()
	return r, nil
}

func (r *dnsResolver) close() {
	for _, s := range r.servers {
		s.Shutdown()
	}
}

// answerDNS builds the reply to q for a namespace on networks nets. Port
// names of those networks are answered here; anything else goes to forward
// (nil: no upstream), whose nil result means no upstream answered.
func answerDNS(t *dnsTable, nets []string, q *dns.Msg, forward func(*dns.Msg) *dns.Msg) *dns.Msg {
	m := new(dns.Msg)
	if len(q.Question) != 1 || q.Opcode != dns.OpcodeQuery {
		m.SetRcode(q, dns.RcodeNotImplemented)
		return m
	}
	qq := q.Question[0]
	name := dnsName(qq.Name)
	if qq.Qclass == dns.ClassINET || qq.Qclass == dns.ClassANY {
		for _, n := range nets {
			if target, ok := t.ptrs[n][name]; ok {
				m.SetReply(q)
				m.Authoritative = true
				m.RecursionAvailable = true
				if qq.Qtype == dns.TypePTR || qq.Qtype == dns.TypeANY {
					m.Answer = append(m.Answer, &dns.PTR{
						Hdr: dns.RR_Header{Name: qq.Name, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: dnsTTL},
						Ptr: target,
					})
				}
				return m
			}
			a, ok := t.names[n][name]
			if !ok {
				continue
			}
			m.SetReply(q)
			m.Authoritative = true
			m.RecursionAvailable = true
			if (qq.Qtype == dns.TypeA || qq.Qtype == dns.TypeANY) && a.v4.IsValid() {
				m.Answer = append(m.Answer, &dns.A{
					Hdr: dns.RR_Header{Name: qq.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: dnsTTL},
					A:   a.v4.AsSlice(),
				})
			}
			if (qq.Qtype == dns.TypeAAAA || qq.Qtype == dns.TypeANY) && a.v6.IsValid() {
				m.Answer = append(m.Answer, &dns.AAAA{
					Hdr:  dns.RR_Header{Name: qq.Name, Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: dnsTTL},
					AAAA: a.v6.AsSlice(),
				})
			}
			// Other types of a known name (and AAAA on an IPv4-only
			// network): NOERROR, no data, so the stub asks no further.
			return m
		}
	}
	if forward != nil {
		if r := forward(q); r != nil {
			r.Id = q.Id
			return r
		}
	}
	// No upstream (or none answered): at once, never a time-out.
	if !strings.Contains(name, ".") {
		m.SetRcode(q, dns.RcodeNameError)
	} else {
		m.SetRcode(q, dns.RcodeRefused)
	}
	m.RecursionAvailable = forward != nil
	return m
}

// forwardDNS asks each upstream in turn; nil when there is none or none
// answered.
func forwardDNS(upstreams []string, netw string, q *dns.Msg) *dns.Msg {
	if len(upstreams) == 0 {
		return nil
	}
	c := &dns.Client{Net: netw, Timeout: dnsForwardTimeout}
	for _, u := range upstreams {
		r, _, err := c.Exchange(q, u)
		if err == nil && r != nil {
			return r
		}
	}
	m := new(dns.Msg)
	m.SetRcode(q, dns.RcodeServerFailure)
	return m
}

// resolvConfPath is where `ip netns exec NS` finds NS's resolv.conf.
func resolvConfPath(ns string) string {
	return filepath.Join("/etc/netns", ns, "resolv.conf")
}

// resolvConf points the namespace's resolver at the embedded DNS; ndots:0
// so that dotted names go out as they are typed.
const resolvConf = "# written by vswitchd (port add); removed by port rm\nnameserver 127.0.0.11\noptions ndots:0\n"

// writeResolvConf writes /etc/netns/NS/resolv.conf for a named namespace
// unless one is there; it reports whether it wrote it.
func writeResolvConf(ns string) (bool, error) {
	if ns == "" || strings.Contains(ns, "/") {
		return false, nil // a path: `ip netns exec` cannot name it
	}
	p := resolvConfPath(ns)
	if _, err := os.Stat(p); err == nil {
		return false, nil // the user's (or another port's): leave it
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return false, fmt.Errorf("cannot write %s: %v (pass --no-resolv-conf to skip it)", p, err)
	}
	if err := os.WriteFile(p, []byte(resolvConf), 0o644); err != nil {
		return false, fmt.Errorf("cannot write %s: %v (pass --no-resolv-conf to skip it)", p, err)
	}
	return true, nil
}

// removeResolvConf removes the file written for ns, and its directory when
// it is left empty.
func removeResolvConf(ns string) {
	p := resolvConfPath(ns)
	os.Remove(p)
	os.Remove(filepath.Dir(p))
}
