package dataplane

import (
	"bytes"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"vswitch/dataplane/port"
	"vswitch/header"
)

// A tap holds at most its pool: with nobody draining, the frames beyond
// what the chunks hold are not copied and are counted; once the reader
// gives the chunks back, copying resumes.
func TestTapBoundedDropsCounted(t *testing.T) {
	frame := udpFrame(t, stationMAC(2), stationMAC(1), 1000, 0) // 1010 bytes with the virtio header
	tap := newTap(2, 4096, 8)                                   // 4 frames per chunk
	batch := make([][]byte, 6)
	for i := range batch {
		batch[i] = frame
	}
	// A batch takes chunks until its frames are copied and hands them all
	// over: the first fills one chunk and half the other, the pool is then
	// empty.
	for range 3 { // 18 frames offered
		tap.put(CaptureIn, batch, nil, nil, 0)
	}
	if got, want := tap.Copied(), uint64(6); got != want {
		t.Errorf("copied %d frames, want %d (the first batch)", got, want)
	}
	if got, want := tap.Dropped(), uint64(12); got != want {
		t.Errorf("dropped %d frames, want %d", got, want)
	}
	var chunks []*CaptureChunk
	for len(chunks) < 2 {
		chunks = append(chunks, <-tap.Chunks())
	}
	select {
	case c := <-tap.Chunks():
		t.Fatalf("a third chunk arrived with %d records: the pool has two", len(c.Recs))
	default:
	}
	n := 0
	for _, c := range chunks {
		for i := range c.Recs {
			if c.Recs[i].Dir != CaptureIn || !bytes.Equal(c.Frame(i), frame) {
				t.Fatalf("record %d: dir %d, %d bytes: not the frame put", i, c.Recs[i].Dir, len(c.Frame(i)))
			}
			n++
		}
		tap.Release(c)
	}
	if n != 6 {
		t.Errorf("%d records in the chunks, want 6", n)
	}
	tap.put(CaptureOut, batch[:1], nil, nil, 0)
	if c := <-tap.Chunks(); len(c.Recs) != 1 || c.Recs[0].Dir != CaptureOut {
		t.Errorf("after Release: %d records, want 1 outbound", len(c.Recs))
	}
	if tap.Dropped() != 12 {
		t.Errorf("dropped %d after Release, want still 12", tap.Dropped())
	}
}

// A capture on the ingress port sees the frame as it came in, inbound; one
// on the egress port sees it outbound, as written; a port without a
// capture is unaffected; a second capture on a port is refused.
func TestCaptureThroughForwardBatch(t *testing.T) {
	bb := newBenchbed(t, 3)
	s := bb.dp.cfg.Load()
	in, out := bb.ports[0], bb.ports[1]
	tin, err := bb.dp.StartCapture(in.Index)
	if err != nil {
		t.Fatal(err)
	}
	tout, err := bb.dp.StartCapture(out.Index)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bb.dp.StartCapture(in.Index); err != ErrCaptureBusy {
		t.Errorf("second capture on a port: %v, want ErrCaptureBusy", err)
	}
	frame := udpFrame(t, stationMAC(2), stationMAC(1), 64, 0)
	bufs, sizes := bb.fill(frame, 4)
	bb.w.forwardBatch(s, in, bufs, sizes)

	for _, tc := range []struct {
		name string
		tap  *Tap
		dir  CaptureDir
	}{{"ingress", tin, CaptureIn}, {"egress", tout, CaptureOut}} {
		select {
		case c := <-tc.tap.Chunks():
			if len(c.Recs) != 4 {
				t.Errorf("%s: %d records, want 4", tc.name, len(c.Recs))
			}
			for i, r := range c.Recs {
				if r.Dir != tc.dir || !bytes.Equal(c.Frame(i), frame) || r.Time == 0 {
					t.Errorf("%s record %d: dir %d time %d, frame equal %v", tc.name, i, r.Dir, r.Time, bytes.Equal(c.Frame(i), frame))
				}
			}
		default:
			t.Errorf("%s: no chunk", tc.name)
		}
	}
	bb.dp.StopCapture(in.Index, tin)
	bb.w.forwardBatch(s, in, bufs, sizes)
	select {
	case c := <-tin.Chunks():
		t.Errorf("stopped capture got %d more records", len(c.Recs))
	default:
	}
	if _, err := bb.dp.StartCapture(in.Index); err != nil {
		t.Errorf("capture after stop: %v", err)
	}
}

// CaptureFrames writes a TCPv4 GSO super-frame as the segments a wire
// carries: each at most MTU, sequence numbers following each other, valid
// IP and TCP checksums (gopacket recomputes them to compare).
func TestCaptureFramesSegmentsGSO(t *testing.T) {
	const segs = 5
	buf := gsoTCPFrame(t, stationMAC(2), stationMAC(1), segs)
	scratch := make([]byte, port.BufSize)
	var got [][]byte
	CaptureFrames(append([]byte(nil), buf...), scratch, func(f []byte, note string) {
		if note != "" {
			t.Errorf("note %q for a TCPv4 super-frame", note)
		}
		got = append(got, append([]byte(nil), f...))
	})
	if len(got) != segs {
		t.Fatalf("%d packets, want %d", len(got), segs)
	}
	seq0 := header.TCP(buf[ethIPOff+header.IPv4MinLen:]).Seq()
	seq := seq0
	for i, f := range got {
		if len(f) > 1500+header.EthernetLen {
			t.Errorf("segment %d: %d bytes, over MTU+14", i, len(f))
		}
		p := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
		ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if ip == nil || tcp == nil {
			t.Fatalf("segment %d does not decode as TCP/IPv4", i)
		}
		if tcp.Seq != seq {
			t.Errorf("segment %d: seq %d, want %d", i, tcp.Seq, seq)
		}
		seq += uint32(len(tcp.Payload))
		ipSum, tcpSum := ip.Checksum, tcp.Checksum
		tcp.SetNetworkLayerForChecksum(ip)
		sb := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(sb, gopacket.SerializeOptions{ComputeChecksums: true}, ip, tcp, gopacket.Payload(tcp.Payload)); err != nil {
			t.Fatal(err)
		}
		p2 := gopacket.NewPacket(sb.Bytes(), layers.LayerTypeIPv4, gopacket.Default)
		if ip2 := p2.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ip2.Checksum != ipSum {
			t.Errorf("segment %d: IP checksum %#x, want %#x", i, ipSum, ip2.Checksum)
		}
		if tcp2 := p2.Layer(layers.LayerTypeTCP).(*layers.TCP); tcp2.Checksum != tcpSum {
			t.Errorf("segment %d: TCP checksum %#x, want %#x", i, tcpSum, tcp2.Checksum)
		}
		if i < segs-1 && tcp.PSH {
			t.Errorf("segment %d has PSH: only the last one keeps it", i)
		}
	}
	if seq != seq0+segs*1448 {
		t.Errorf("segments carry %d bytes, want %d", seq-seq0, segs*1448)
	}
}

// BenchmarkForwardBatchCapture is BenchmarkForwardBatch with a capture on
// both ports and a reader draining it: the cost of the copies when a user
// captures. Without a capture, BenchmarkForwardBatch pays one pointer load
// per batch and per egress.
func BenchmarkForwardBatchCapture(b *testing.B) {
	bb := newBenchbed(b, 2)
	var taps []*Tap
	for _, p := range bb.ports {
		tp, err := bb.dp.StartCapture(p.Index)
		if err != nil {
			b.Fatal(err)
		}
		taps = append(taps, tp)
	}
	done := make(chan struct{})
	defer close(done)
	for _, tp := range taps {
		go func() {
			for {
				select {
				case c := <-tp.Chunks():
					tp.Release(c)
				case <-done:
					return
				}
			}
		}()
	}
	benchForward(b, bb, udpFrame(b, stationMAC(2), stationMAC(1), 64, 0), 1)
	var copied, dropped uint64
	for _, tp := range taps {
		copied += tp.Copied()
		dropped += tp.Dropped()
	}
	b.ReportMetric(float64(dropped)/float64(copied+dropped), "dropped/frame")
}

// A capture of a trunk keeps each frame's 802.1Q tag, which the device
// reports out of line on receive and pushes itself on send: the record
// says the VID (received: the device's tag; sent: the member's), a tag of
// another TPID says none, and TagFrame puts the tag back into the copy
// as the wire had it. The frames forwarded are the pipeline's as before.
func TestCaptureTrunkTags(t *testing.T) {
	vb := newVLANBench(t)
	s := vb.dp.cfg.Load()
	tap, err := vb.dp.StartCapture(vb.trunk.Index)
	if err != nil {
		t.Fatal(err)
	}
	for i := range vb.tc.tags {
		vb.tc.tags[i] = 10
	}
	vb.tc.tags[1] = port.TagOther
	in := udpFrame(t, stationMAC(2), stationMAC(1), 64, 0)
	bufs, sizes := vb.fill(in)
	vb.w.forwardBatch(s, vb.trunk, bufs, sizes)
	if got := vb.c10.Written.Load(); got != benchBatch-1 {
		t.Fatalf("VLAN 10's access port got %d frames, want %d", got, benchBatch-1)
	}
	// VLAN 20's access port to h1, learned on the trunk's VLAN 20 member.
	out := udpFrame(t, stationMAC(1), stationMAC(5), 64, 0)
	bufs, sizes = vb.fill(out)
	vb.w.forwardBatch(s, vb.a20, bufs[:1], sizes[:1])
	if got := vb.ct.Written.Load(); got != 1 {
		t.Fatalf("the trunk sent %d frames, want 1", got)
	}
	vb.dp.StopCapture(vb.trunk.Index, tap)
	var recs []CaptureRecord
	var frames [][]byte
	for len(tap.Chunks()) > 0 {
		c := <-tap.Chunks()
		for i, r := range c.Recs {
			recs = append(recs, r)
			frames = append(frames, bytes.Clone(c.Frame(i)))
		}
		tap.Release(c)
	}
	if len(recs) != benchBatch+1 {
		t.Fatalf("%d records, want %d in and 1 out", len(recs), benchBatch)
	}
	for i, r := range recs[:benchBatch] {
		want := uint16(10)
		if i == 1 {
			want = 0
		}
		if r.Dir != CaptureIn || r.VID != want || !bytes.Equal(frames[i], in) {
			t.Errorf("received record %d: dir %d VID %d; want in, VID %d, the frame as read", i, r.Dir, r.VID, want)
		}
	}
	last := recs[benchBatch]
	if last.Dir != CaptureOut || last.VID != 20 || !bytes.Equal(frames[benchBatch], out) {
		t.Fatalf("sent record: dir %d VID %d; want out, VID 20, the frame as queued", last.Dir, last.VID)
	}
	got := TagFrame(nil, frames[benchBatch][header.VirtioNetHdrLen:], last.VID)
	if want := tagged(out, header.EtherTypeVLAN, 20)[header.VirtioNetHdrLen:]; !bytes.Equal(got, want) {
		t.Errorf("TagFrame:\n got %x\nwant %x", got, want)
	}
	pkt := gopacket.NewPacket(got, layers.LayerTypeEthernet, gopacket.Default)
	if d, ok := pkt.Layer(layers.LayerTypeDot1Q).(*layers.Dot1Q); !ok || d.VLANIdentifier != 20 || pkt.Layer(layers.LayerTypeUDP) == nil {
		t.Errorf("the tagged copy does not decode as 802.1Q VLAN 20 over UDP: %v", pkt)
	}
}
