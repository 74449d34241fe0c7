package daemon

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"vswitch/api"
	"vswitch/dataplane"
)

// Published ports (`publish add`, Docker's -p): DNAT of a host address and
// port of vswitchd to an address and port inside a network. The dataplane
// does the translation; this file validates the rules, keeps them in the
// state and hands the whole set to the dataplane after every change.

// protoNumbers are the IP protocol numbers of the names the CLI takes.
var protoNumbers = map[string]uint8{"icmp": 1, "tcp": 6, "udp": 17}

// anyHost is how `publish ls` shows a rule bound to every address.
const anyHost = "0.0.0.0"

// AddPublish publishes a port.
func (d *Daemon) AddPublish(req api.PublishAdd) (api.Publish, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p, err := d.parsePublishLocked(req)
	if err != nil {
		return api.Publish{}, err
	}
	for _, o := range d.st.Publish {
		if o.Proto == p.Proto && o.HostPort == p.HostPort && (!o.HostIP.IsValid() || !p.HostIP.IsValid() || o.HostIP == p.HostIP) {
			return api.Publish{}, conflict("%s port %d is already published on %s by rule %d (to %s): 'publish rm %d' first or pick another port",
				o.Proto, p.HostPort, hostName(o.HostIP), o.ID, o.To, o.ID)
		}
	}
	d.st.LastPublishID++
	p.ID = d.st.LastPublishID
	d.st.Publish = append(d.st.Publish, p)
	d.syncPublishLocked()
	if err := d.st.save(d.opts.StateDir); err != nil {
		d.st.Publish = d.st.Publish[:len(d.st.Publish)-1]
		d.syncPublishLocked()
		return api.Publish{}, err
	}
	d.log.Info("port published", "id", p.ID, "network", p.Network, "proto", p.Proto, "host", hostName(p.HostIP), "port", p.HostPort, "to", p.To)
	return publishView(p), nil
}

// parsePublishLocked validates a rule; the result has no ID yet.
func (d *Daemon) parsePublishLocked(req api.PublishAdd) (PublishState, error) {
	n, ok := d.nets[req.Network]
	if !ok {
		return PublishState{}, notFound("no network %s: 'vswitchctl network ls' lists them", req.Network)
	}
	if n.cfg.Internal {
		return PublishState{}, conflict("network %s is internal: it has no way in or out; published ports need a network without --internal", n.cfg.Name)
	}
	if req.Proto != "tcp" && req.Proto != "udp" {
		return PublishState{}, badRequest("bad --proto %q: published ports are tcp or udp", req.Proto)
	}
	hostIP, hostPort, err := parseHostPort(req.Port)
	if err != nil {
		return PublishState{}, err
	}
	if hostIP.Is6() && !n.cfg.Subnet6.IsValid() {
		return PublishState{}, badRequest("bad --port %s: network %s has no IPv6 (--ipv6) to publish an IPv6 host address into: give an IPv4 host address or none", req.Port, n.cfg.Name)
	}
	if hostIP.IsValid() {
		if own := d.ownAddrsLocked(); !slices.ContainsFunc(own, func(o ownAddr) bool { return o.ip == hostIP }) {
			return PublishState{}, badRequest("%s is not an address of vswitchd: give one of %s, or no address for all of them", hostIP, describeOwn(own))
		}
	}
	to, err := netip.ParseAddrPort(req.To)
	if err != nil || !to.Addr().Is4() || to.Port() == 0 {
		return PublishState{}, badRequest("bad --to %q: want the container's IPv4 address and port, like 172.17.0.101:8080", req.To)
	}
	if err := checkHostAddr(n.cfg.Subnet, to.Addr()); err != nil {
		return PublishState{}, badRequest("--to %s: address %s is not a host of network %s (%s): give an address inside it", to, to.Addr(), n.cfg.Name, n.cfg.Subnet)
	}
	if to.Addr() == n.cfg.Gateway {
		return PublishState{}, badRequest("--to %s is the gateway of network %s, vswitchd itself: give a container's address", to, n.cfg.Name)
	}
	return PublishState{Network: n.cfg.Name, Proto: req.Proto, HostIP: hostIP, HostPort: hostPort, To: to}, nil
}

// parseHostPort reads --port: "HPORT", "HOSTIP:HPORT" or, for an IPv6
// host address, "[HOSTIP6]:HPORT" (Docker's -p [::1]:8080:80). 0.0.0.0 and
// [::] are the same as no address: every address, both families.
func parseHostPort(s string) (netip.Addr, uint16, error) {
	bad := badRequest("bad --port %q: want HPORT, HOSTIP:HPORT or [HOSTIP6]:HPORT with HPORT 1 to 65535, like 8000, 10.0.12.15:8000 or [2001:db8:12::15]:8000", s)
	var ip netip.Addr
	ps := s
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		host := s[:i]
		v6 := strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]")
		if v6 {
			host = host[1 : len(host)-1]
		}
		var err error
		if ip, err = netip.ParseAddr(host); err != nil || ip.Zone() != "" || ip.Is4In6() || ip.Is6() != v6 {
			if err == nil && ip.Is6() && !v6 {
				return netip.Addr{}, 0, badRequest("bad --port %q: an IPv6 host address goes in brackets, like [%s]:HPORT", s, ip)
			}
			return netip.Addr{}, 0, bad
		}
		if ip.IsUnspecified() {
			ip = netip.Addr{}
		}
		ps = s[i+1:]
	}
	port, err := strconv.ParseUint(ps, 10, 16)
	if err != nil || port == 0 {
		return ip, 0, bad
	}
	return ip, uint16(port), nil
}

// ownAddr is an address vswitchd answers for.
type ownAddr struct {
	ip   netip.Addr
	what string
}

// ownAddrsLocked lists the addresses a port may be published on: the
// uplinks' and the gateways' (for hairpin), IPv4 and IPv6, except those of
// internal networks, which have no way in.
func (d *Daemon) ownAddrsLocked() []ownAddr {
	var out []ownAddr
	for _, u := range d.st.Uplinks {
		out = append(out, ownAddr{u.IP.Addr(), "uplink " + u.Name})
		if u.IP6.IsValid() {
			out = append(out, ownAddr{u.IP6.Addr(), "uplink " + u.Name})
		}
	}
	for _, n := range d.st.Networks {
		if !n.Internal {
			out = append(out, ownAddr{n.Gateway, "gateway of " + n.Name})
			if n.Gateway6.IsValid() {
				out = append(out, ownAddr{n.Gateway6, "gateway of " + n.Name})
			}
		}
	}
	return out
}

func describeOwn(own []ownAddr) string {
	var s []string
	for _, o := range own {
		s = append(s, fmt.Sprintf("%s (%s)", o.ip, o.what))
	}
	return strings.Join(s, ", ")
}

func hostName(ip netip.Addr) string {
	if !ip.IsValid() {
		return anyHost
	}
	return ip.String()
}

func publishView(p PublishState) api.Publish {
	return api.Publish{ID: p.ID, Network: p.Network, Proto: p.Proto, HostIP: hostName(p.HostIP),
		HostPort: int(p.HostPort), To: p.To.String()}
}

// Publishes lists the published ports, by ID.
func (d *Daemon) Publishes() []api.Publish {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := []api.Publish{}
	for _, p := range d.st.Publish {
		out = append(out, publishView(p))
	}
	slices.SortFunc(out, func(a, b api.Publish) int { return a.ID - b.ID })
	return out
}

// RemovePublish removes a published port by its ID.
func (d *Daemon) RemovePublish(idStr string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	id, err := strconv.Atoi(idStr)
	if err != nil {
		return badRequest("bad rule ID %q: give the number 'vswitchctl publish ls' shows", idStr)
	}
	i := slices.IndexFunc(d.st.Publish, func(p PublishState) bool { return p.ID == id })
	if i < 0 {
		return notFound("no publish rule %d: 'vswitchctl publish ls' lists them", id)
	}
	p := d.st.Publish[i]
	d.st.Publish = slices.Delete(d.st.Publish, i, i+1)
	d.syncPublishLocked()
	if err := d.st.save(d.opts.StateDir); err != nil {
		return err
	}
	d.log.Info("publish rule removed", "id", id, "network", p.Network, "port", p.HostPort)
	return nil
}

// syncPublishLocked hands every rule to the dataplane, with the networks'
// IDs of this run (they are not kept across restarts).
func (d *Daemon) syncPublishLocked() {
	rules := make([]dataplane.PublishRule, 0, len(d.st.Publish))
	for _, p := range d.st.Publish {
		n, ok := d.nets[p.Network]
		if !ok || n.id == 0 {
			continue // its network could not be restored
		}
		rules = append(rules, dataplane.PublishRule{ID: p.ID, Network: n.id, Proto: protoNumbers[p.Proto],
			HostIP: p.HostIP, HostPort: p.HostPort, To: p.To, To6: d.target6Locked(p)})
	}
	d.dp.SetPublish(rules)
}

// target6Locked is the IPv6 address of a rule's target, as Docker's -p
// publishes on IPv6 too: the --ip6 of the port whose IPv4 address --to
// names, on a network with IPv6; none when there is no such port (yet: the
// rules are handed over again when ports come and go) or the rule is bound
// to an IPv4 host address (IPv4 only, as the IPv6-bound ones are IPv6 only).
func (d *Daemon) target6Locked(p PublishState) netip.Addr {
	if p.HostIP.Is4() {
		return netip.Addr{}
	}
	for i := range d.st.Ports {
		ps := &d.st.Ports[i]
		if ps.Network == p.Network && ps.IP.Addr() == p.To.Addr() && ps.IP6.IsValid() {
			return ps.IP6.Addr()
		}
	}
	return netip.Addr{}
}

// publishUsersLocked lists the rules that go with a network (publishing
// into it) or with one of vswitchd's addresses (bound to it). An uplink's or
// gateway's IPv4 address stands for its IPv6 address too: the rules bound
// to either go with it.
func (d *Daemon) publishUsersLocked(network string, addr netip.Addr) []int {
	var addr6 netip.Addr
	if addr.IsValid() {
		for _, u := range d.st.Uplinks {
			if u.IP.Addr() == addr && u.IP6.IsValid() {
				addr6 = u.IP6.Addr()
			}
		}
		for _, n := range d.st.Networks {
			if n.Gateway == addr && n.Gateway6.IsValid() {
				addr6 = n.Gateway6
			}
		}
	}
	var ids []int
	for _, p := range d.st.Publish {
		if (network != "" && p.Network == network) || (addr.IsValid() && (p.HostIP == addr || (addr6.IsValid() && p.HostIP == addr6))) {
			ids = append(ids, p.ID)
		}
	}
	return ids
}
