package nat

import (
	"time"

	"vswitch/header"
)

// Dir is the direction a packet travels relative to the packet that created
// its conn.
type Dir uint8

const (
	Original Dir = 0
	Reply    Dir = 1
)

func (d Dir) String() string {
	if d == Reply {
		return "reply"
	}
	return "original"
}

// State is a conn's protocol state: the TCP states of Linux's tracker, or
// Unreplied/Assured for UDP and ICMP.
type State uint8

const (
	None State = iota // never seen on a committed conn
	SynSent
	SynRecv
	Established
	FinWait   // one side sent FIN, not yet acknowledged
	CloseWait // that FIN was acknowledged; the other side has not closed yet
	LastAck   // both sides sent FIN; waiting for the ACK of the second
	TimeWait  // the second FIN was acknowledged
	Close     // reset
	Unreplied // UDP/ICMP: seen in the original direction only
	Assured   // UDP/ICMP: seen both ways
	numStates
)

var stateNames = [numStates]string{
	"NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT", "CLOSE_WAIT",
	"LAST_ACK", "TIME_WAIT", "CLOSE", "UNREPLIED", "ASSURED",
}

func (s State) String() string {
	if s < numStates {
		return stateNames[s]
	}
	return "INVALID"
}

// NAT flags of a conn.
const (
	SNAT uint8 = 1
	DNAT uint8 = 2
)

// Timeouts per state. Zero fields take the defaults of Linux's trackers
// (nf_conntrack_proto_tcp.c, _udp.c, _icmp.c), so flows age as they do
// behind Docker's iptables.
type Timeouts struct {
	TCPSynSent, TCPSynRecv, TCPEstablished, TCPFinWait, TCPCloseWait, TCPLastAck, TCPTimeWait, TCPClose time.Duration
	UDPUnreplied, UDPAssured, ICMP                                                                      time.Duration
}

// DefaultTimeouts are Linux's defaults.
var DefaultTimeouts = Timeouts{
	TCPSynSent:     2 * time.Minute,
	TCPSynRecv:     60 * time.Second,
	TCPEstablished: 5 * 24 * time.Hour,
	TCPFinWait:     2 * time.Minute,
	TCPCloseWait:   60 * time.Second,
	TCPLastAck:     30 * time.Second,
	TCPTimeWait:    2 * time.Minute,
	TCPClose:       10 * time.Second,
	UDPUnreplied:   30 * time.Second,
	UDPAssured:     120 * time.Second,
	ICMP:           30 * time.Second,
}

// timeoutTable is Timeouts in nanoseconds, indexed by protocol class and
// state, so Track reads one array element.
type timeoutTable struct {
	tcp  [numStates]int64
	udp  [numStates]int64
	icmp [numStates]int64
}

func (tt *timeoutTable) of(proto uint8, s State) int64 {
	switch proto {
	case header.ProtoTCP:
		return tt.tcp[s]
	case header.ProtoUDP:
		return tt.udp[s]
	}
	return tt.icmp[s]
}

func newTimeoutTable(to Timeouts) timeoutTable {
	pick := func(v, def time.Duration) int64 {
		if v <= 0 {
			v = def
		}
		return int64(v)
	}
	d := DefaultTimeouts
	var tt timeoutTable
	tt.tcp[SynSent] = pick(to.TCPSynSent, d.TCPSynSent)
	tt.tcp[SynRecv] = pick(to.TCPSynRecv, d.TCPSynRecv)
	tt.tcp[Established] = pick(to.TCPEstablished, d.TCPEstablished)
	tt.tcp[FinWait] = pick(to.TCPFinWait, d.TCPFinWait)
	tt.tcp[CloseWait] = pick(to.TCPCloseWait, d.TCPCloseWait)
	tt.tcp[LastAck] = pick(to.TCPLastAck, d.TCPLastAck)
	tt.tcp[TimeWait] = pick(to.TCPTimeWait, d.TCPTimeWait)
	tt.tcp[Close] = pick(to.TCPClose, d.TCPClose)
	tt.tcp[None] = tt.tcp[Close]
	tt.tcp[Unreplied], tt.tcp[Assured] = tt.tcp[Close], tt.tcp[Close]
	u, a := pick(to.UDPUnreplied, d.UDPUnreplied), pick(to.UDPAssured, d.UDPAssured)
	ic := pick(to.ICMP, d.ICMP)
	for s := range numStates {
		tt.udp[s], tt.icmp[s] = u, ic
	}
	tt.udp[Assured] = a
	return tt
}

// A conn's mutable protocol state is one 32-bit word, changed by CAS, so two
// workers tracking the two directions of a flow need no lock.
const (
	wState     = 0x0f   // State
	wAssured   = 1 << 4 // replied and (TCP) established: early drop spares it
	wSeenReply = 1 << 5 // a packet went in the Reply direction
	wFinOrig   = 1 << 6 // FIN seen in the Original direction
	wFinReply  = 1 << 7 // FIN seen in the Reply direction
	wLastFin   = 1 << 8 // the second FIN travelled in the Reply direction
	wDead      = 1 << 9 // removed from the table; lookups treat it as a miss
	flagsMask  = header.TCPFlagSYN | header.TCPFlagACK | header.TCPFlagFIN | header.TCPFlagRST
	synNoAck   = header.TCPFlagSYN
	synAck     = header.TCPFlagSYN | header.TCPFlagACK
)

func finBit(d Dir) uint32 {
	if d == Reply {
		return wFinReply
	}
	return wFinOrig
}

// firstState is the state a new conn starts in before its first packet is
// applied, or false when that packet may not create a conn. A SYN opens; a
// packet carrying ACK (data, a FIN+ACK) picks up a running connection as
// ESTABLISHED, as Linux with nf_conntrack_tcp_loose=1, so flows survive a
// daemon restart. A SYN+ACK or a reset never creates state: they answer
// something this table never saw, and creating from them would let a
// scanner's backscatter fill the table. Flag combinations no TCP sends
// (SYN with FIN or RST; no SYN and no ACK, as a null or FIN scan) are
// refused too, as Linux's tcp_error drops them.
func firstState(proto uint8, tcpFlags uint8) (uint32, bool) {
	switch proto {
	case header.ProtoTCP:
		f := tcpFlags & flagsMask
		switch {
		case f&header.TCPFlagRST != 0, f&synAck == synAck:
			return 0, false
		case f&header.TCPFlagSYN != 0:
			if f&header.TCPFlagFIN != 0 {
				return 0, false
			}
			return uint32(SynSent), true
		case f&header.TCPFlagACK == 0:
			return 0, false
		}
		return uint32(Established), true
	case header.ProtoUDP, header.ProtoICMP:
		return uint32(Unreplied), true
	}
	return 0, false
}

// next is the state word after one packet. ok is false only for a SYN in
// the Original direction on a finished TCP conn: the caller must open a new
// conn. It is a pure function so the table-driven tests check it alone.
func next(proto uint8, w uint32, d Dir, tcpFlags uint8) (nw uint32, ok bool) {
	if proto != header.ProtoTCP {
		if d == Reply {
			w = w&^wState | uint32(Assured) | wSeenReply | wAssured
		}
		return w, true
	}
	s := State(w & wState)
	f := tcpFlags & flagsMask
	set := func(n State) { s = n }
	switch {
	case f&header.TCPFlagRST != 0:
		// Linux checks the reset's sequence number against the window;
		// without window tracking any reset closes, as with tcp_be_liberal.
		set(Close)
	case f&synAck == synNoAck:
		if d == Original {
			if s == TimeWait || s == Close {
				return w, false
			}
			// A retransmitted SYN keeps SYN_SENT; a SYN inside a live
			// connection is ignored, as Linux does.
		} else if s == SynSent {
			// Simultaneous open (Linux's SYN_SENT2, folded into SYN_RECV).
			set(SynRecv)
		}
	case f&synAck == synAck:
		if d == Reply && s == SynSent {
			set(SynRecv)
		}
	case f&header.TCPFlagFIN != 0:
		if s == TimeWait || s == Close || s == SynSent {
			break
		}
		mine, theirs := finBit(d), finBit(1-d)
		if w&mine != 0 {
			break // retransmitted FIN
		}
		w |= mine
		if w&theirs != 0 {
			// The second FIN; its ACK bit acknowledges the first.
			set(LastAck)
			if d == Reply {
				w |= wLastFin
			} else {
				w &^= wLastFin
			}
		} else {
			set(FinWait)
		}
	case f&header.TCPFlagACK != 0:
		switch s {
		case SynRecv:
			if d == Original {
				set(Established)
			}
		case FinWait:
			// The peer of the FIN's sender acknowledges it: half-closed.
			if w&finBit(1-d) != 0 {
				set(CloseWait)
			}
		case LastAck:
			lastDir := Original
			if w&wLastFin != 0 {
				lastDir = Reply
			}
			if d != lastDir {
				set(TimeWait)
			}
		}
	}
	if d == Reply {
		w |= wSeenReply
	}
	// Assured as Linux marks it: the handshake completed with both sides
	// heard (a loose pick-up becomes assured at its first reply).
	if w&wSeenReply != 0 && s >= Established && s <= TimeWait {
		w |= wAssured
	}
	return w&^wState | uint32(s), true
}

// earlyDroppable says whether a full table may evict this conn for a new
// one: not assured (a probe, an unanswered SYN, a one-way UDP stream), or a
// TCP connection already closing, which Linux's tcp_can_early_drop also
// gives up.
func earlyDroppable(proto uint8, w uint32) bool {
	if w&wAssured == 0 {
		return true
	}
	if proto == header.ProtoTCP {
		switch State(w & wState) {
		case FinWait, CloseWait, LastAck, TimeWait, Close:
			return true
		}
	}
	return false
}
