package dataplane

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"vswitch/dataplane/gso"
	"vswitch/header"
)

// Capture taps (`vswitchctl capture PORT`). Each port has a slot holding
// the port's active tap or nil; the worker loads it once per received batch
// and once per egress queue it flushes, so a port nobody captures costs one
// pointer load and a nil check per batch. An active tap copies the batch's
// frames (virtio_net_hdr included) into chunks taken from a fixed pool and
// hands the filled chunks to the daemon's goroutine on a channel: both
// channel operations are non-blocking, so a reader that falls behind costs
// the worker nothing but the copies it no longer makes, each counted in
// Dropped. Nothing here allocates once the tap exists.
//
//	worker: rx batch ─┐                     ┌─> full ──> daemon (pcapng)
//	        tx flush ─┴─ copy into a chunk ─┤
//	                     taken from free <──┴── Release
//
// Received frames are copied before the pipeline rewrites them (NAT, TTL):
// the capture shows what came in, as tcpdump on the device would, including
// frames then dropped. Sent frames are copied as they are written. Frames
// the control plane writes to a port directly (its ARP probes) are not seen.
//
// On a trunk (and a VLAN uplink) the 802.1Q tag is not in the frame: an
// AF_PACKET socket reports it out of line on receive, and a member's tag
// is pushed by the device's write (port.Tagged). Each record keeps the
// tag (VID), and the reader writes it back into its copy (TagFrame), so
// the capture shows "vlan N" as tcpdump on the device would; the frame
// the pipeline forwards is never touched.

// CaptureDir says which way a captured frame went, seen from the port's
// device: In is what the port received (the container sent), Out what
// vswitchd sent to it.
type CaptureDir uint8

const (
	CaptureIn CaptureDir = iota + 1
	CaptureOut
)

// CaptureRecord is one copied frame in a chunk.
type CaptureRecord struct {
	Dir  CaptureDir
	Time int64 // Unix ns: when the worker copied the batch
	Off  int32 // in Data; the copy starts with the virtio_net_hdr
	Len  int32
	VID  uint16 // the 802.1Q tag the frame had on the device, out of line; 0: none (or in the frame)
}

// CaptureChunk holds frames of one or a few batches.
type CaptureChunk struct {
	Data []byte
	Recs []CaptureRecord
}

// Frame returns the bytes of record i (virtio_net_hdr + frame).
func (c *CaptureChunk) Frame(i int) []byte {
	r := c.Recs[i]
	return c.Data[r.Off : r.Off+r.Len]
}

// Tap is an active capture on one port: a bounded pool of chunks the
// workers fill and its reader drains.
type Tap struct {
	free    chan *CaptureChunk
	full    chan *CaptureChunk // capacity: every chunk, so a send never waits
	dropped atomic.Uint64
	copied  atomic.Uint64
}

// Default capture buffer: 64 chunks of 128 KiB, 8 MiB per capture, made
// when the capture starts. Each batch takes at least one chunk (workers
// share no partly filled chunk: that would need a lock), so the pool holds
// 64 batches of small frames, or 128 GSO super-frames of 64 KiB.
const (
	captureChunks     = 64
	captureChunkBytes = 128 << 10
	captureChunkRecs  = 256
)

// newTap returns a tap of chunks chunks of size bytes (each at least one
// receive buffer) and recs records.
func newTap(chunks, size, recs int) *Tap {
	t := &Tap{free: make(chan *CaptureChunk, chunks), full: make(chan *CaptureChunk, chunks)}
	for range chunks {
		t.free <- &CaptureChunk{Data: make([]byte, 0, size), Recs: make([]CaptureRecord, 0, recs)}
	}
	return t
}

// ErrCaptureBusy: the port already has a capture.
var ErrCaptureBusy = errors.New("capture already running")

// StartCapture installs a tap on port idx. One capture per port at a time.
func (dp *Dataplane) StartCapture(idx uint16) (*Tap, error) {
	p := dp.cfg.Load().port(idx)
	if p == nil {
		return nil, fmt.Errorf("no port %d", idx)
	}
	t := newTap(captureChunks, captureChunkBytes, captureChunkRecs)
	if !p.tap.CompareAndSwap(nil, t) {
		return nil, ErrCaptureBusy
	}
	return t, nil
}

// StopCapture removes tap t from port idx. A worker that loaded t just
// before may still add a chunk to it, which nobody reads: harmless, the
// channels are buffered and never closed.
func (dp *Dataplane) StopCapture(idx uint16, t *Tap) {
	if p := dp.cfg.Load().port(idx); p != nil {
		p.tap.CompareAndSwap(t, nil)
	}
}

// Chunks is where filled chunks arrive; give each back with Release.
func (t *Tap) Chunks() <-chan *CaptureChunk { return t.full }

// Release returns a drained chunk to the pool.
func (t *Tap) Release(c *CaptureChunk) {
	c.Data, c.Recs = c.Data[:0], c.Recs[:0]
	select {
	case t.free <- c:
	default: // cannot happen: there are as many slots as chunks
	}
}

// Dropped is how many frames were not copied because the reader was behind
// (no free chunk); Copied how many were.
func (t *Tap) Dropped() uint64 { return t.dropped.Load() }
func (t *Tap) Copied() uint64  { return t.copied.Load() }

// put copies a batch's frames: bufs[i][:sizes[i]], or bufs[i] whole when
// sizes is nil, each with its tag: tags[i] (the device's out-of-line tags
// of a received batch, nil: none), else vid (a trunk member's, sent).
// Called by a worker; never blocks.
func (t *Tap) put(dir CaptureDir, bufs [][]byte, sizes []int, tags []uint16, vid uint16) {
	now := time.Now().UnixNano()
	var c *CaptureChunk
	copied := 0
	for i, b := range bufs {
		if sizes != nil {
			b = b[:sizes[i]]
		}
		if c != nil && (len(c.Data)+len(b) > cap(c.Data) || len(c.Recs) == cap(c.Recs)) {
			t.full <- c // never waits: full has room for every chunk
			c = nil
		}
		if c == nil {
			select {
			case c = <-t.free:
			default:
				t.dropped.Add(uint64(len(bufs) - i))
				t.copied.Add(uint64(copied))
				return
			}
		}
		if len(b) > cap(c.Data) { // larger than a chunk: not in a default tap
			t.dropped.Add(1)
			continue
		}
		off := len(c.Data)
		c.Data = append(c.Data, b...)
		tag := vid
		if i < len(tags) {
			tag = tags[i]
		}
		if tag > header.VLANMax { // a tag of another TPID (port.TagOther): not one to write back as 802.1Q
			tag = 0
		}
		c.Recs = append(c.Recs, CaptureRecord{Dir: dir, Time: now, Off: int32(off), Len: int32(len(b)), VID: tag})
		copied++
	}
	if c != nil {
		t.full <- c
	}
	t.copied.Add(uint64(copied))
}

// CaptureFrames turns one captured buffer (virtio_net_hdr + frame) into
// what a wire would carry, calling emit for each packet with the Ethernet
// frame and a note ("" when there is nothing to say). A TCPv4 or TCPv6 GSO
// super-frame is cut into its segments by the same code the router uses
// (package gso), with their checksums filled in; a partial checksum
// (CHECKSUM_PARTIAL) is completed. Other GSO types (UDP) are passed whole
// with a note saying so. scratch must hold a receive
// buffer; frame may be changed. Runs in the reader, never in a worker.
func CaptureFrames(buf, scratch []byte, emit func(frame []byte, note string)) {
	if len(buf) < header.VirtioNetHdrLen {
		return
	}
	vh := header.VirtioNetHdr(buf)
	if vh.IsGSO() {
		if sf, ok := gso.Parse(buf); ok && header.VirtioNetHdrLen+sf.MaxSegmentLen() <= len(scratch) {
			for k := 0; k < sf.Segments(); k++ {
				emit(sf.CutBuf(scratch, k)[header.VirtioNetHdrLen:], "")
			}
			return
		}
		emit(buf[header.VirtioNetHdrLen:], fmt.Sprintf("GSO super-frame not segmented (gso_type %d, gso_size %d): one packet here, several on a wire",
			vh.GSOType(), vh.GSOSize()))
		return
	}
	note := ""
	if vh.Flags()&header.VirtioNetHdrFNeedsCsum != 0 {
		if !finishCaptureChecksum(buf) {
			note = "checksum left to the device (CHECKSUM_PARTIAL)"
		}
	}
	emit(buf[header.VirtioNetHdrLen:], note)
}

// captureTags is the out-of-line tags of the batch port in just read
// (nil when its device reports none), for its tap.
func captureTags(in *Port) []uint16 {
	if in.tagger == nil {
		return nil
	}
	return in.tagger.Tags()
}

// TagFrame appends to dst the Ethernet frame with an 802.1Q tag of vid
// (priority 0) after its MAC addresses, as the wire carried it, and
// returns it; a frame too short for MACs is appended as it is. Runs in a
// capture's reader on its copy.
func TagFrame(dst, frame []byte, vid uint16) []byte {
	if len(frame) < header.MACsLen {
		return append(dst, frame...)
	}
	dst = append(dst, frame[:header.MACsLen]...)
	dst = append(dst, byte(header.EtherTypeVLAN>>8), byte(header.EtherTypeVLAN&0xff), byte(vid>>8&0x0f), byte(vid))
	return append(dst, frame[header.MACsLen:]...)
}

// finishCaptureChecksum completes a partial L4 checksum of an IPv4 frame,
// as completeChecksum does before fragmenting.
func finishCaptureChecksum(buf []byte) bool {
	if len(buf) < ethIPOff+header.IPv4MinLen || header.Ethernet(buf[header.VirtioNetHdrLen:]).Type() != header.EtherTypeIPv4 {
		return false
	}
	ip := header.IPv4(buf[ethIPOff:])
	if !ip.Valid() {
		return false
	}
	return completeChecksum(buf, ethIPOff+ip.HeaderLen(), ethIPOff+int(ip.TotalLen()), ip.Protocol())
}
