package daemon

import (
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"vswitch/api"
	"vswitch/dataplane"
	"vswitch/dataplane/port"
)

// Capture: GET /v1/capture/{port}?count=N streams what the port receives
// and sends as pcapng (https://www.ietf.org/archive/id/draft-ietf-opsawg-pcapng-03.html),
// the format tcpdump and Wireshark read from a pipe. The dataplane copies
// frames into the port's tap (dataplane/capture.go); this handler, one
// goroutine per capture, drains it, cuts GSO super-frames into the
// segments a wire would carry (dataplane.CaptureFrames) and writes one
// Enhanced Packet Block per packet, with its direction in epb_flags
// (inbound: the port received it from its container; outbound: vswitchd
// sent it) and the copies the tap had to drop since the packet before in
// epb_dropcount. The stream ends after count packets (0: never), when the
// client goes away, or when the port is removed. The writer is written here
// (some 60 lines) because gopacket's NgWriter writes no packet options, and
// the daemon keeps gopacket out of its binary.

// pcapng block types and options used.
const (
	pcapngSHB = 0x0A0D0D0A
	pcapngIDB = 0x00000001
	pcapngEPB = 0x00000006
	pcapngISB = 0x00000005

	optEnd       = 0
	optComment   = 1
	optIfName    = 2
	optIfTsresol = 9
	optEPBFlags  = 2
	optEPBDrops  = 4
	optISBIfRecv = 4
	optISBIfDrop = 5

	linktypeEthernet = 1
	captureSnapLen   = 262144
)

// pcapngWriter writes blocks little-endian, one whole block per write so a
// reader cut off mid-stream has only whole blocks before the cut.
type pcapngWriter struct {
	w   io.Writer
	buf []byte
}

func (p *pcapngWriter) opt(code uint16, val []byte) {
	p.buf = binary.LittleEndian.AppendUint16(p.buf, code)
	p.buf = binary.LittleEndian.AppendUint16(p.buf, uint16(len(val)))
	p.buf = append(p.buf, val...)
	for len(p.buf)%4 != 0 {
		p.buf = append(p.buf, 0)
	}
}

// begin starts a block of type typ; end fills in its length and writes it.
func (p *pcapngWriter) begin(typ uint32) {
	p.buf = binary.LittleEndian.AppendUint32(p.buf[:0], typ)
	p.buf = binary.LittleEndian.AppendUint32(p.buf, 0) // length, set by end
}

func (p *pcapngWriter) end(withOpts bool) error {
	if withOpts {
		p.buf = binary.LittleEndian.AppendUint32(p.buf, optEnd)
	}
	n := uint32(len(p.buf) + 4)
	binary.LittleEndian.PutUint32(p.buf[4:], n)
	p.buf = binary.LittleEndian.AppendUint32(p.buf, n)
	_, err := p.w.Write(p.buf)
	return err
}

// header writes the section header and the one interface: the port.
func (p *pcapngWriter) header(portName string) error {
	p.begin(pcapngSHB)
	p.buf = binary.LittleEndian.AppendUint32(p.buf, 0x1A2B3C4D) // byte-order magic
	p.buf = binary.LittleEndian.AppendUint16(p.buf, 1)          // version 1.0
	p.buf = binary.LittleEndian.AppendUint16(p.buf, 0)
	p.buf = binary.LittleEndian.AppendUint64(p.buf, ^uint64(0)) // section length: unknown
	p.opt(optComment, []byte("vswitchd capture of port "+portName+"; GSO super-frames are written as their TCP segments"))
	if err := p.end(true); err != nil {
		return err
	}
	p.begin(pcapngIDB)
	p.buf = binary.LittleEndian.AppendUint16(p.buf, linktypeEthernet)
	p.buf = binary.LittleEndian.AppendUint16(p.buf, 0)
	p.buf = binary.LittleEndian.AppendUint32(p.buf, captureSnapLen)
	p.opt(optIfName, []byte(portName))
	p.opt(optIfTsresol, []byte{9}) // timestamps in ns
	return p.end(true)
}

// packet writes one Enhanced Packet Block.
func (p *pcapngWriter) packet(tsNs int64, dir dataplane.CaptureDir, frame []byte, drops uint64, note string) error {
	p.begin(pcapngEPB)
	p.buf = binary.LittleEndian.AppendUint32(p.buf, 0) // interface 0
	p.buf = binary.LittleEndian.AppendUint32(p.buf, uint32(uint64(tsNs)>>32))
	p.buf = binary.LittleEndian.AppendUint32(p.buf, uint32(tsNs))
	capLen := min(len(frame), captureSnapLen)
	p.buf = binary.LittleEndian.AppendUint32(p.buf, uint32(capLen))
	p.buf = binary.LittleEndian.AppendUint32(p.buf, uint32(len(frame)))
	p.buf = append(p.buf, frame[:capLen]...)
	for len(p.buf)%4 != 0 {
		p.buf = append(p.buf, 0)
	}
	flags := uint32(1) // inbound (epb_flags bits 0-1)
	if dir == dataplane.CaptureOut {
		flags = 2
	}
	p.opt(optEPBFlags, binary.LittleEndian.AppendUint32(nil, flags))
	if drops > 0 {
		p.opt(optEPBDrops, binary.LittleEndian.AppendUint64(nil, drops))
	}
	if note != "" {
		p.opt(optComment, []byte(note))
	}
	return p.end(true)
}

// stats writes an Interface Statistics Block: packets written and copies
// the tap dropped.
func (p *pcapngWriter) stats(tsNs int64, recv, drop uint64) error {
	p.begin(pcapngISB)
	p.buf = binary.LittleEndian.AppendUint32(p.buf, 0)
	p.buf = binary.LittleEndian.AppendUint32(p.buf, uint32(uint64(tsNs)>>32))
	p.buf = binary.LittleEndian.AppendUint32(p.buf, uint32(tsNs))
	p.opt(optISBIfRecv, binary.LittleEndian.AppendUint64(nil, recv))
	p.opt(optISBIfDrop, binary.LittleEndian.AppendUint64(nil, drop))
	return p.end(true)
}

// capturePortLocked finds the dataplane index of a port or uplink that is up.
func (d *Daemon) capturePortLocked(name string) (uint16, error) {
	if rt, ok := d.ports[name]; ok {
		if rt.io == nil {
			return 0, conflict("port %s is down (%s): nothing to capture", name, rt.err)
		}
		return rt.idx, nil
	}
	if rt := d.uplinks[name]; rt != nil {
		if rt.io == nil {
			return 0, conflict("uplink %s is down (%s): nothing to capture", name, rt.err)
		}
		return rt.idx, nil
	}
	return 0, notFound("no port %s: 'vswitchctl port ls' lists them", name)
}

// capturePortIs says whether name still is the port at idx (it may have
// been removed, or removed and added again, during the capture).
func (d *Daemon) capturePortIs(name string, idx uint16) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	got, err := d.capturePortLocked(name)
	return err == nil && got == idx
}

// shutdowns holds, per API server, a channel closed when the server shuts
// down: http.Server.Shutdown waits for active requests, and a capture would
// otherwise hold vswitchd's exit for the whole shutdown timeout.
var shutdowns sync.Map // *http.Server -> chan struct{}

func serverShutdown(r *http.Request) <-chan struct{} {
	srv, _ := r.Context().Value(http.ServerContextKey).(*http.Server)
	if srv == nil {
		return nil
	}
	ch := make(chan struct{})
	got, loaded := shutdowns.LoadOrStore(srv, ch)
	if !loaded {
		srv.RegisterOnShutdown(func() { close(ch) })
	}
	return got.(chan struct{})
}

func (d *Daemon) serveCapture(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("port")
	count := 0
	if s := r.URL.Query().Get("count"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			reply(w, 400, api.Error{Error: "invalid count " + strconv.Quote(s) + ": give a number of packets, 0 for no limit"})
			return
		}
		count = n
	}
	d.mu.Lock()
	idx, err := d.capturePortLocked(name)
	var tap *dataplane.Tap
	if err == nil {
		tap, err = d.dp.StartCapture(idx)
		if errors.Is(err, dataplane.ErrCaptureBusy) {
			err = conflict("a capture of port %s is already running: end it first (one capture per port)", name)
		}
	}
	d.mu.Unlock()
	if err != nil {
		reply(w, errStatus(err), api.Error{Error: err.Error()})
		return
	}
	defer d.dp.StopCapture(idx, tap)

	w.Header().Set("Content-Type", "application/x-pcapng")
	w.WriteHeader(200)
	fl, _ := w.(http.Flusher)
	flush := func() {
		if fl != nil {
			fl.Flush()
		}
	}
	pw := &pcapngWriter{w: w}
	if pw.header(name) != nil {
		return
	}
	flush()
	d.log.Info("capture started", "port", name, "count", count)
	scratch := make([]byte, port.BufSize)
	var tagged []byte // a tagged copy of a frame (TagFrame), reused
	var written, reported uint64
	stopping := serverShutdown(r)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	defer func() {
		d.log.Info("capture ended", "port", name, "packets", written, "dropped", tap.Dropped())
	}()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-stopping:
			pw.stats(time.Now().UnixNano(), written, tap.Dropped())
			flush()
			return
		case <-tick.C:
			if !d.capturePortIs(name, idx) {
				pw.stats(time.Now().UnixNano(), written, tap.Dropped())
				return
			}
			flush()
		case c := <-tap.Chunks():
			var werr error
			for i, rec := range c.Recs {
				dataplane.CaptureFrames(c.Frame(i), scratch, func(frame []byte, note string) {
					if werr != nil || (count > 0 && written >= uint64(count)) {
						return
					}
					if rec.VID != 0 { // a trunk's tag, out of line on the device: back in, as on the wire
						tagged = dataplane.TagFrame(tagged[:0], frame, rec.VID)
						frame = tagged
					}
					drops := tap.Dropped() - reported
					reported += drops
					werr = pw.packet(rec.Time, rec.Dir, frame, drops, note)
					written++
				})
			}
			tap.Release(c)
			if werr != nil {
				return
			}
			if count > 0 && written >= uint64(count) {
				pw.stats(time.Now().UnixNano(), written, tap.Dropped())
				flush()
				return
			}
			flush()
		}
	}
}
