package dataplane

import (
	"encoding/binary"
	"sync/atomic"

	"vswitch/header"
)

// Keeping a flow on one queue of a multi-queue TAP.
//
// The kernel's tun sends a flow's packets out of the queue that userspace
// last wrote that flow to (tun_flow_update, keyed by a symmetric hash of
// the flow), so a flow between two TAPs stays on one worker by itself: the
// worker reading it from one TAP writes it to the same queue number of the
// other. A single-queue port (an uplink, an AF_PACKET port) breaks that:
// its one worker writes the answers of every flow into its own queue, and
// a flow the namespace had been sending on the other queue moves. Packets
// it queued before the move are then read by the other worker, and can be
// sent after packets queued later: a handshake ACK arrived 3.5 ms after the
// data behind it, after the server had closed, and drew a reset (found by
// the 10,000-connection test through masquerade).
//
// So every worker notes, for each TCP or UDP frame it reads from a
// multi-queue port, which queue the flow came on; a worker writing a frame
// that came from a single-queue port into a multi-queue one uses that
// queue. The flow then never moves. The note is an atomic store into a
// fixed table indexed by a symmetric hash of the flow's addresses and
// ports (a collision only costs the old behaviour), and is skipped when
// the slot holds that queue already, so a steady flow writes nothing.

const hintBits = 16

type queueHints struct {
	q [1 << hintBits]atomic.Uint32 // queue + 1; 0: none
}

// flowHash is a hash of an IPv4 TCP or UDP frame's flow that is the same
// both ways (addresses and ports combined by XOR), and false for other frames.
func flowHash(buf []byte) (uint32, bool) {
	if len(buf) < ethIPOff+header.IPv4MinLen+4 ||
		binary.BigEndian.Uint16(buf[header.VirtioNetHdrLen+12:]) != header.EtherTypeIPv4 {
		return 0, false
	}
	ip := buf[ethIPOff:]
	hl := int(ip[0]&0xf) * 4
	proto := ip[9]
	if (proto != header.ProtoTCP && proto != header.ProtoUDP) || hl < header.IPv4MinLen ||
		len(ip) < hl+4 || binary.BigEndian.Uint16(ip[6:8])&0x3fff != 0 {
		return 0, false
	}
	a := binary.BigEndian.Uint32(ip[12:16]) ^ binary.BigEndian.Uint32(ip[16:20])
	p := uint32(binary.BigEndian.Uint16(ip[hl:]) ^ binary.BigEndian.Uint16(ip[hl+2:]))
	h := (a*0x9e3779b1 ^ p*0x85ebca6b ^ uint32(proto)) * 0xc2b2ae35
	return h >> (32 - hintBits), true
}

// note records that buf's flow came in on queue.
func (h *queueHints) note(buf []byte, queue int) {
	k, ok := flowHash(buf)
	if !ok {
		return
	}
	if s := &h.q[k]; s.Load() != uint32(queue+1) {
		s.Store(uint32(queue + 1))
	}
}

// queueOf is the queue buf's flow was last seen on, if any.
func (h *queueHints) queueOf(buf []byte) (int, bool) {
	k, ok := flowHash(buf)
	if !ok {
		return 0, false
	}
	q := h.q[k].Load()
	return int(q) - 1, q != 0
}

// steer picks the queue of egress port idx for buf: the worker's own, but
// for a frame from a single-queue port into a multi-queue one, the queue
// its flow lives on.
func (w *worker) steer(s *snapshot, in *Port, idx uint16, buf []byte) int {
	if in == nil || in.multiQueue() {
		return w.id
	}
	if out := s.port(idx); out != nil && out.multiQueue() {
		if q, ok := w.dp.hints.queueOf(buf); ok {
			return q
		}
	}
	return w.id
}
