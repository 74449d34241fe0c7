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
	// DropFlood: nowhere to flood (the network has only the ingress port).
	DropNoDest

	NumDropReasons
)

var dropNames = [NumDropReasons]string{
	DropNone:      "none",
	DropMalformed: "malformed",
	DropBadSrcMAC: "bad-src-mac",
	DropMACLimit:  "mac-limit",
	DropSamePort:  "same-port",
	DropNoPort:    "port-gone",
	DropTxError:   "tx-error",
	DropNoDest:    "no-destination",
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
	ActDrop    Action = iota
	ActForward        // to Verdict.Port
	ActFlood          // to every port of the ingress network but the ingress port
)

// Verdict is the decision of the pipeline for one frame. The same value drives
// forwarding and `vswitchctl trace`.
type Verdict struct {
	Action Action
	Port   uint16     // egress port index, for ActForward
	Reason DropReason // for ActDrop
}

func drop(r DropReason) Verdict { return Verdict{Action: ActDrop, Reason: r} }
