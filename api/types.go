// Package api holds the JSON shapes and paths of vswitchd's HTTP API, shared by
// the daemon (server) and vswitchctl (client). Keys follow the CLI contract
// (shared/design/CLI.md): a key there is a key here, spelled the same.
package api

// Version of the API; every path starts with it.
const Prefix = "/v1"

// DefaultSocket is where vswitchd listens unless told otherwise.
const DefaultSocket = "/run/vswitch/vswitchd.sock"

// Error is the body of every 4xx/5xx answer. Error is one line a person can act
// on; Detail is optional structured context.
type Error struct {
	Error  string `json:"error"`
	Detail any    `json:"detail,omitempty"`
}

// Network as `network inspect` prints it.
type Network struct {
	Name       string `json:"name"`
	Subnet     string `json:"subnet"`
	Gateway    string `json:"gateway"`
	GatewayMAC string `json:"gateway_mac"`
	Internal   bool   `json:"internal"`
	ICC        bool   `json:"icc"`
	Masquerade bool   `json:"masquerade"`
	MTU        int    `json:"mtu"`
	FDBAging   int    `json:"fdb_aging_s"`
	MACLimit   int    `json:"mac_limit"`
	ACLDefault string `json:"acl_default"` // allow | deny: what the network's ACL does with a flow no rule matches
	// The ingress guard's defaults for the network's ports (docs/cli.md).
	PortSecurity bool `json:"port_security"`
	StormLimit   int  `json:"storm_limit"` // broadcast/unknown-unicast frames per second per port; 0: off
	ConnRate     int  `json:"conn_rate"`   // new tracked connections per second per port; 0: off
	// DNS says the embedded resolver answers at 127.0.0.11 in the namespace
	// of every port of the network (daemon/dns.go); the CNI plugin puts it in
	// its Result only then, so a daemon without it gets no nameserver.
	DNS       bool     `json:"dns"`
	Ports     []Port   `json:"ports"`
	Connected []string `json:"connected"`
	// VXLAN is set on an overlay network (api/vxlan.go).
	VXLAN *VXLANInfo `json:"vxlan,omitempty"`
	// VLAN is the network's 802.1Q VLAN id (network create --vlan); 0: none.
	VLAN int `json:"vlan,omitempty"`
	// IPv6 inside the network (network create --ipv6): its /64, the
	// gateway's global address on it and its link-local one (fe80:: and
	// the EUI-64 of gateway_mac). Empty without IPv6.
	IPv6       bool   `json:"ipv6"`
	Subnet6    string `json:"subnet6,omitempty"`
	Gateway6   string `json:"gateway6,omitempty"`
	Gateway6LL string `json:"gateway6_ll,omitempty"`
	// NAT66 (network create --nat66): IPv6 leaving by the uplink is
	// masqueraded to the uplink's IPv6 address; off, it keeps its own.
	NAT66 bool `json:"nat66,omitempty"`
}

// NetworkCreate is the body of POST /v1/networks. Pointers distinguish "not
// given" from the zero value so the daemon applies its defaults.
type NetworkCreate struct {
	Name         string `json:"name"`
	Subnet       string `json:"subnet"`
	Gateway      string `json:"gateway,omitempty"`
	Internal     bool   `json:"internal,omitempty"`
	ICC          *bool  `json:"icc,omitempty"`
	NoMasquerade bool   `json:"no_masquerade,omitempty"`
	MTU          int    `json:"mtu,omitempty"`
	FDBAging     *int   `json:"fdb_aging_s,omitempty"`
	MACLimit     *int   `json:"mac_limit,omitempty"`
	ACLDefault   string `json:"acl_default,omitempty"`   // allow (the default) | deny
	PortSecurity *bool  `json:"port_security,omitempty"` // default true
	StormLimit   int    `json:"storm_limit,omitempty"`
	ConnRate     int    `json:"conn_rate,omitempty"`
	// VXLAN makes an overlay network with a tunnel port (api/vxlan.go).
	VXLAN *VXLANCreate `json:"vxlan,omitempty"`
	// VLAN gives the network an 802.1Q VLAN id, 1 to 4094 (daemon/vlan.go).
	VLAN int `json:"vlan,omitempty"`
	// IPv6 makes the network dual-stack with the /64 Subnet6; Gateway6
	// defaults to its ::1.
	IPv6     bool   `json:"ipv6,omitempty"`
	Subnet6  string `json:"subnet6,omitempty"`
	Gateway6 string `json:"gateway6,omitempty"`
	// NAT66 masquerades the network's IPv6 to the uplink's IPv6 address
	// (off by default, as Docker's ip6tables NAT66); needs IPv6.
	NAT66 bool `json:"nat66,omitempty"`
}

// Port as `port ls` prints it.
type Port struct {
	Name    string `json:"name"`
	Network string `json:"network"`
	Kind    string `json:"kind"` // tap | afpacket | xdp | uplink | vxlan
	Netns   string `json:"netns"`
	Ifname  string `json:"ifname"`
	MAC     string `json:"mac"`
	IP      string `json:"ip"`            // CIDR, empty for attached ports
	IP6     string `json:"ip6,omitempty"` // ADDR/64 on a network with IPv6
	MTU     int    `json:"mtu"`
	State   string `json:"state"` // up | down: down when its device could not be opened
	// PortSecurity: the port may send only from its own MAC and IP (and
	// AllowedIPs). Off by default for attached ports and the uplink.
	PortSecurity bool     `json:"port_security"`
	AllowedIPs   []string `json:"allowed_ips,omitempty"`
	Aliases      []string `json:"aliases,omitempty"` // DNS names besides Name
	// Ingress policing (`port set --rate --burst`): Mbit/s and KB (1024
	// bytes) the port may send; left out when it is not policed.
	IngressRateMbit int `json:"ingress_rate_mbit,omitempty"`
	IngressBurstKB  int `json:"ingress_burst_kb,omitempty"`
	// Trunk is set on an 802.1Q trunk (port attach --trunk), whose
	// Network is empty.
	Trunk *TrunkInfo `json:"trunk,omitempty"`
}

// PortSet is the body of POST /v1/ports/{name}/set: what changes, nil
// fields stay. A rate of 0 removes the policing.
type PortSet struct {
	IngressRateMbit *int `json:"ingress_rate_mbit,omitempty"`
	IngressBurstKB  *int `json:"ingress_burst_kb,omitempty"`
}

// PortAdd is the body of POST /v1/ports: a TAP created inside Netns.
type PortAdd struct {
	Network        string   `json:"network"`
	Netns          string   `json:"netns"`
	Name           string   `json:"name,omitempty"`
	Ifname         string   `json:"ifname,omitempty"`
	IP             string   `json:"ip,omitempty"`  // CIDR, bare IP (network's prefix length) or "auto"
	IP6            string   `json:"ip6,omitempty"` // on a network with IPv6: ADDR, ADDR/64 or "auto" (also when empty)
	MAC            string   `json:"mac,omitempty"`
	NoDefaultRoute bool     `json:"no_default_route,omitempty"`
	PortSecurity   *bool    `json:"port_security,omitempty"`  // default: the network's
	AllowedIPs     []string `json:"allowed_ips,omitempty"`    // IPv4 CIDRs the port may also send from
	Aliases        []string `json:"aliases,omitempty"`        // more names the embedded DNS answers
	NoResolvConf   bool     `json:"no_resolv_conf,omitempty"` // do not write /etc/netns/NS/resolv.conf
}

// PortAttach is the body of POST /v1/ports/attach: an AF_PACKET (or AF_XDP)
// port on an existing interface.
type PortAttach struct {
	Network string `json:"network"`
	Dev     string `json:"dev"`
	Netns   string `json:"netns,omitempty"`
	Name    string `json:"name,omitempty"`
	Kind    string `json:"kind,omitempty"` // afpacket (the default) | xdp
	// Trunk (daemon/vlan.go): the interface carries the networks that
	// have a VLAN id, tagged; VLANs limits them to a list ("10,20-30"),
	// Native is the VLAN of untagged frames (0: they are dropped).
	// Network is empty then.
	Trunk  bool   `json:"trunk,omitempty"`
	VLANs  string `json:"vlans,omitempty"`
	Native int    `json:"native,omitempty"`
}

// FDBEntry as `fdb show` prints it.
type FDBEntry struct {
	MAC     string `json:"mac"`
	Port    string `json:"port"`
	Network string `json:"network"`
	AgeS    int64  `json:"age_s"`
	Static  bool   `json:"static"`
}

// FDBAdd is the body of POST /v1/fdb: a static entry.
type FDBAdd struct {
	MAC  string `json:"mac"`
	Port string `json:"port"`
}

// PortStats is one row of `stats`.
type PortStats struct {
	Name      string            `json:"name"`
	Network   string            `json:"network"`
	RxPackets uint64            `json:"rx_packets"`
	RxBytes   uint64            `json:"rx_bytes"`
	TxPackets uint64            `json:"tx_packets"`
	TxBytes   uint64            `json:"tx_bytes"`
	RxGSO     uint64            `json:"rx_gso_packets"` // GSO super-frames received (each carries many segments)
	TxGSO     uint64            `json:"tx_gso_packets"`
	Drops     map[string]uint64 `json:"drops"`
}

// Stats is the object `stats` prints.
type Stats struct {
	Ports []PortStats       `json:"ports"`
	Drops map[string]uint64 `json:"drops"`
}

// Version is GET /v1/version.
type Version struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	Go      string `json:"go"`
}

// NetworkConnect is the body of POST /v1/networks/{name}/connect and
// /disconnect: the other network.
type NetworkConnect struct {
	Network string `json:"network"`
}

// Route as `route ls` prints it.
type Route struct {
	Prefix string `json:"prefix"`
	Via    string `json:"via"`  // next hop, empty when on-link
	Port   string `json:"port"` // egress port or network name
	Kind   string `json:"kind"` // connected | static | default
}

// RouteAdd is the body of POST /v1/routes: exactly one of Via and Port.
type RouteAdd struct {
	Prefix string `json:"prefix"`
	Via    string `json:"via,omitempty"`
	Port   string `json:"port,omitempty"`
}

// Neighbor as `arp show` prints it.
type Neighbor struct {
	IP    string `json:"ip"`
	MAC   string `json:"mac"`
	State string `json:"state"` // incomplete | reachable | stale | failed | permanent
	Port  string `json:"port"`  // the port behind which the MAC was seen, else the network
}

// Uplink as `uplink ls` prints it.
type Uplink struct {
	Name    string `json:"name"`
	Dev     string `json:"dev"`
	Netns   string `json:"netns"`
	IP      string `json:"ip"`      // CIDR owned by vswitchd
	Gateway string `json:"gateway"` // next hop of the default route, empty for none
	MAC     string `json:"mac"`     // vswitchd's MAC on the link, not the interface's
	MTU     int    `json:"mtu"`
	State   string `json:"state"`
	// IPv6 (uplink add --ip6): vswitchd's IPv6 address on the link with
	// its prefix, and the next hop of the IPv6 default route.
	IP6      string `json:"ip6,omitempty"`
	Gateway6 string `json:"gateway6,omitempty"`
	// VLAN (uplink add --vlan): the 802.1Q id the uplink's frames carry
	// on the device; 0: untagged.
	VLAN int `json:"vlan,omitempty"`
}

// UplinkAdd is the body of POST /v1/uplinks.
type UplinkAdd struct {
	Dev     string `json:"dev"`
	Netns   string `json:"netns,omitempty"`
	IP      string `json:"ip"`
	Gateway string `json:"gateway,omitempty"`
	Name    string `json:"name,omitempty"`
	// IP6 is an IPv6 address with its prefix (ADDR/PLEN) vswitchd owns on
	// the link; Gateway6 the next hop of the IPv6 default route, on it.
	IP6      string `json:"ip6,omitempty"`
	Gateway6 string `json:"gateway6,omitempty"`
	// VLAN tags the uplink's frames on the device (1 to 4094; 0: none).
	// Uplinks of one device with different VLANs share its socket.
	VLAN int `json:"vlan,omitempty"`
}

// Publish is a published port as `publish ls` prints it.
type Publish struct {
	ID       int    `json:"id"`
	Network  string `json:"network"`
	Proto    string `json:"proto"`     // tcp | udp
	HostIP   string `json:"host_ip"`   // 0.0.0.0: every address of vswitchd (uplinks and gateways)
	HostPort int    `json:"host_port"` // 1-65535
	To       string `json:"to"`        // IP:PORT inside the network
}

// PublishAdd is the body of POST /v1/publish. Port is "[HOSTIP:]HPORT", as
// the command line gives it; the daemon parses it.
type PublishAdd struct {
	Network string `json:"network"`
	Proto   string `json:"proto"`
	Port    string `json:"port"`
	To      string `json:"to"`
}

// ACLRule is one rule as `acl ls` prints it. An empty Src, Dst, Proto or
// DPort matches anything.
type ACLRule struct {
	ID       int    `json:"id"`
	Network  string `json:"network"`
	Action   string `json:"action"` // allow | deny
	Src      string `json:"src"`    // CIDR
	Dst      string `json:"dst"`    // CIDR
	Proto    string `json:"proto"`  // tcp | udp | icmp
	DPort    string `json:"dport"`  // N or N-M
	Priority int    `json:"priority"`
	Hits     uint64 `json:"hits"` // since vswitchd started: first packets of flows it allowed, packets it denied
}

// ACLAdd is the body of POST /v1/acls. Priority nil: the default (100).
type ACLAdd struct {
	Network  string `json:"network"`
	Action   string `json:"action"`
	Src      string `json:"src,omitempty"`
	Dst      string `json:"dst,omitempty"`
	Proto    string `json:"proto,omitempty"`
	DPort    string `json:"dport,omitempty"`
	Priority *int   `json:"priority,omitempty"`
}

// ConntrackTuple is one direction of a tracked connection. For ICMP echo,
// SPort and DPort both hold the echo identifier.
type ConntrackTuple struct {
	Src   string `json:"src"`
	Dst   string `json:"dst"`
	SPort int    `json:"sport"`
	DPort int    `json:"dport"`
}

// ConntrackEntry is one connection as `conntrack show` prints it: the tuple
// as it came (orig) and the one its answers carry (reply), which differ
// when the connection is NATed.
type ConntrackEntry struct {
	Proto    string         `json:"proto"` // tcp | udp | icmp
	Orig     ConntrackTuple `json:"orig"`
	Reply    ConntrackTuple `json:"reply"`
	State    string         `json:"state"`     // ESTABLISHED, TIME_WAIT, UNREPLIED, ASSURED, ...
	TimeoutS int64          `json:"timeout_s"` // seconds until the entry expires unless traffic refreshes it
}

// ConntrackFlush is the answer of DELETE /v1/conntrack.
type ConntrackFlush struct {
	Flushed int `json:"flushed"` // entries removed
}

// TrunkInfo describes a trunk port: the VLANs it carries now (the ids of
// the networks that have one, of its list) and their networks, in the same
// order; its list as given (empty: every VLAN); its native VLAN (0: none,
// untagged frames are dropped).
type TrunkInfo struct {
	Carried  []int    `json:"carried"`
	Networks []string `json:"networks"`
	VLANs    string   `json:"vlans,omitempty"`
	Native   int      `json:"native,omitempty"`
}
