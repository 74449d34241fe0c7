package dataplane

// DropReason says why the dataplane dropped a frame. Every reason has a
// counter per port and in total (`vswitchctl stats`), and trace prints it.
type DropReason uint8

const (
	DropNone DropReason = iota
	// DropMalformed: shorter than an Ethernet header, or a header the stage
	// needed is cut short or inconsistent.
	DropMalformed
	// DropBadSrcMAC: a multicast or all-zero source address, which no station
	// may send from (IEEE 802.1Q 8.7) and which must never be learned.
	DropBadSrcMAC
	// DropMACLimit: a new source MAC beyond the port's limit.
	DropMACLimit
	// DropSamePort: the destination MAC lives behind the ingress port; a
	// bridge never sends a frame back where it came from.
	DropSamePort
	// DropNoPort: the FDB named a port that has gone (removed meanwhile).
	DropNoPort
	// DropTxError: the egress device refused the frame (down, buffer full).
	DropTxError
	// DropNoDest: nowhere to flood (the network has only the ingress port).
	DropNoDest
	// DropLinkLocal: 01:80:c2:00:00:0X (STP, pause, LACP, LLDP, 802.1X),
	// which a bridge must not forward (IEEE 802.1D 7.12.6), as Linux's
	// bridge does not by default.
	DropLinkLocal
	// DropICC: between two ports of a network created with --icc=false
	// (Docker's FORWARD -i docker0 -o docker0 -j DROP); ARP still passes.
	DropICC
	// DropARPTableFull: the neighbour table is full of entries in use.
	DropARPTableFull
	// DropInternal: a bug (a panic) met while forwarding the batch; the
	// batch is dropped and the worker goes on. Never expected: report it.
	DropInternal
	// DropNotOurs: on an uplink, a frame for another station on that link.
	DropNotOurs
	// DropTTL: TTL would reach 0 (RFC 1812 5.3.1); time exceeded was sent.
	DropTTL
	// DropNoRoute: no route to the destination; net unreachable was sent.
	DropNoRoute
	// DropIsolation: the route leads to a network the source network is not
	// connected to (Docker's DOCKER-ISOLATION chains, without iptables).
	DropIsolation
	// DropInternalNet: to or from the uplink for a network created with
	// --internal, which has no way out (Docker sets no gateway for it).
	DropInternalNet
	// DropACL: denied by the ACL of the network it would be delivered to
	// (a rule, or the network's default deny).
	DropACL
	// DropConntrackFull: a new flow that needed tracking (NAT, an ACL), and
	// the connection table is full of live flows; established ones go on.
	DropConntrackFull
	// DropNATPorts: masquerade found no free source port for a new flow
	// (the --nat-ports range is used up toward that destination).
	DropNATPorts
	// DropCTInvalid: a packet that needs NAT but belongs to no flow the
	// conntrack can start (a bare RST or SYN+ACK, a reply of nothing, a
	// protocol without ports): sending it would leak a private address.
	DropCTInvalid
	// DropFragNeeded: too big for the next hop with DF set; "fragmentation
	// needed" was sent with the next-hop MTU (RFC 1191). For IPv6, which
	// behaves as if DF were always set (a router never fragments it), any
	// packet too big for the next hop; "packet too big" was sent with the
	// MTU (RFC 8201).
	DropFragNeeded
	// DropGSOTooBig: a GSO super-frame whose segments exceed the next hop's
	// MTU without DF and that segment cannot cut (not TCPv4, or its TCP
	// header is bad).
	DropGSOTooBig
	// DropARPQueueFull: too many frames already wait for this neighbour.
	DropARPQueueFull
	// DropARPFailed: the next hop never answered ARP; host unreachable sent.
	DropARPFailed
	// DropNotRoutable: a broadcast or multicast destination, never routed
	// (RFC 1812 5.3.4-5.3.5), an IPv6 link-local destination or source
	// (RFC 4291 2.5.6), or a frame to the gateway that is neither IPv4 nor
	// IPv6 on a network with IPv6.
	DropNotRoutable
	// DropLocal: for one of vswitchd's own addresses, but not a ping.
	DropLocal
	// DropSpoof: port security (guard.go): a source MAC, IPv4 or IPv6
	// source, ARP sender, neighbour advertisement target or ND link-layer
	// option that is not the port's own (nor inside its allowed-ips).
	DropSpoof
	// DropStorm: a broadcast, multicast or unknown-unicast frame over the
	// port's --storm-limit (frames per second).
	DropStorm
	// DropConnRate: a new tracked connection over the port's --conn-rate
	// (connections per second).
	DropConnRate
	// DropRAGuard: a router advertisement or a redirect from a port with
	// port security (guard6.go): only the gateway routes (RA guard, RFC
	// 6105), so a container cannot take its neighbours' default route.
	DropRAGuard
	// DropTooBig: a switched frame longer than the network's MTU allows
	// (MTU + Ethernet header + one VLAN tag) and not a GSO super-frame: a
	// bridge never fragments, and the receivers' devices could not take it
	// (the Linux bridge drops these too, is_skb_forwardable).
	DropTooBig
	// DropPoliced: over the port's ingress policing rate (`port set
	// --rate`): the port's token bucket could not pay for the frame.
	DropPoliced
	// DropVLAN: an 802.1Q tag the port does not carry: a tagged frame on
	// an access port (or on a port whose device reported a tag), on a
	// trunk a VLAN outside its list, a service (802.1ad) tag.
	DropVLAN
	// DropUntagged: an untagged (or priority-tagged) frame on a trunk
	// with no native VLAN: it belongs to no network.
	DropUntagged

	NumDropReasons
)

var dropNames = [NumDropReasons]string{
	DropNone:          "none",
	DropMalformed:     "malformed",
	DropBadSrcMAC:     "bad-src-mac",
	DropMACLimit:      "mac-limit",
	DropSamePort:      "same-port",
	DropNoPort:        "port-gone",
	DropTxError:       "tx-error",
	DropNoDest:        "no-destination",
	DropLinkLocal:     "link-local",
	DropICC:           "icc",
	DropARPTableFull:  "arp-table-full",
	DropInternal:      "internal-error",
	DropNotOurs:       "not-ours",
	DropTTL:           "ttl",
	DropNoRoute:       "no-route",
	DropIsolation:     "isolation",
	DropInternalNet:   "internal",
	DropACL:           "acl",
	DropConntrackFull: "conntrack-full",
	DropNATPorts:      "nat-ports-exhausted",
	DropCTInvalid:     "invalid",
	DropFragNeeded:    "frag-needed",
	DropGSOTooBig:     "gso-too-big",
	DropARPQueueFull:  "arp-queue-full",
	DropARPFailed:     "arp-failed",
	DropNotRoutable:   "not-routable",
	DropLocal:         "local-unhandled",
	DropSpoof:         "spoof",
	DropStorm:         "storm",
	DropConnRate:      "conn-rate",
	DropRAGuard:       "ra-guard",
	DropTooBig:        "too-big",
	DropPoliced:       "policed",
	DropVLAN:          "vlan",
	DropUntagged:      "untagged",
}

func (r DropReason) String() string {
	if r < NumDropReasons {
		return dropNames[r]
	}
	return "unknown"
}

// Action is what happens to a frame.
type Action uint8

const (
	ActDrop     Action = iota
	ActForward         // to Verdict.Port
	ActFlood           // to every port of network Verdict.Port but the ingress port
	ActConsumed        // taken by the router: queued for ARP, or sent as fragments
)

// Verdict is the decision of the pipeline for one frame. The same value drives
// forwarding and `vswitchctl trace`.
//
// It has four fields on purpose: Go returns structs of up to four fields in
// registers; a fifth made decide 30% slower (a stack round trip per frame).
type Verdict struct {
	Action Action
	Port   uint16     // egress port index for ActForward; network ID for ActFlood
	Reason DropReason // for ActDrop
	Len    int        // new length of the buffer when the router rewrote it; 0: unchanged
}

func drop(r DropReason) Verdict { return Verdict{Action: ActDrop, Reason: r} }

func flood(network uint16) Verdict { return Verdict{Action: ActFlood, Port: network} }
