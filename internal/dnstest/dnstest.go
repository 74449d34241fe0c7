// Package dnstest is a fake upstream resolver for tests of the embedded
// DNS: it answers A queries for the names it is given and NXDOMAIN for the
// rest, on a socket the test opened (in a namespace of the test's).
package dnstest

import (
	"net"
	"strings"

	"github.com/miekg/dns"
)

// Serve answers on pc until the returned stop is called: an A record with
// TTL 60 for each name in a (name -> IPv4 address, any case, with or without
// the trailing dot), NXDOMAIN for every other question.
func Serve(pc net.PacketConn, a map[string]string) (stop func()) {
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		if len(r.Question) == 1 && r.Question[0].Qtype == dns.TypeA {
			name := strings.ToLower(strings.TrimSuffix(r.Question[0].Name, "."))
			if addr, ok := a[name]; ok {
				m.Answer = append(m.Answer, &dns.A{
					Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
					A:   net.ParseIP(addr).To4(),
				})
			}
		}
		if len(m.Answer) == 0 {
			m.Rcode = dns.RcodeNameError
		}
		_ = w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go srv.ActivateAndServe()
	<-started
	return func() { _ = srv.Shutdown() }
}
