package dataplane

import (
	"errors"
	"fmt"
	"sync/atomic"

	"vswitch/header"
)

// Ingress policing (`vswitchctl port set PORT --rate MBIT --burst KB`), as
// Open vSwitch's ingress_policing_rate and ingress_policing_burst: a token
// bucket of bytes per port, asked by forwardBatch for every frame read from
// the port before the pipeline sees it. A frame the bucket cannot pay for
// is dropped (`policed`); nothing is queued or delayed, so this limits what
// a port may send, it does not shape it.
//
// The bucket is kept as GCRA keeps it (ITU-T I.371, as guard.go's): one
// number, the time at which the bucket would be full again (tat). The
// bucket holds burst - (tat - now) worth of bytes; a frame of cost c passes
// when that is at least c, and moves tat on by c. A full bucket is any tat
// in the past, so refilling costs nothing and is capped at burst by itself.
//
// Two workers may read one port at once: a TAP has one queue per worker and
// each worker reads its own queue (Port.queueFor), the kernel spreading the
// namespace's flows over the queues. Splitting the rate between the queues
// would hold one flow (which lives on one queue) to rate/queues, so the
// bucket is one per port and shared. To keep it off the per-frame path,
// each batch loads tat once (policeRun), decides its frames against that
// view in local variables, and adds what the passed frames cost with one
// compare-and-swap at the end. What the port sends is always charged in
// full, so the long-run rate is exact; two batches of two workers deciding
// at the same moment may each see the same tokens and together pass up to
// one batch beyond the burst, a debt the next frames pay back.

// PoliceConfig is what the control plane asks of one port's policer.
type PoliceConfig struct {
	RateBps    uint64 // bits per second; 0: no policing
	BurstBytes uint64 // bucket size in bytes; 0: DefaultPoliceBurst(RateBps)
}

// DefaultPoliceBurst is the bucket of a port whose burst was not given:
// a quarter of a second of the rate, and at least OVS's default
// ingress_policing_burst (8000 kbit, which netdev-linux gives tc as
// 8000*1024/8 bytes), in whole KB.
//
// OVS's fixed 8000 kbit is far too small for TCP at hundreds of Mbit/s:
// a bucket that runs dry drops whole GSO super-frames (45 segments each)
// and the rest of the window behind them, which a sender recovers from
// only by its retransmission timeout, at least 200 ms in Linux. While it
// waits the bucket fills; if it holds less than the rate's worth of that
// wait, the tokens beyond are lost and the flow falls short of the rate.
// Measured with iperf3 through a TAP (docs/architecture.md): 1000 KB gave
// 0.22 of 200 Mbit/s and 0.10 of 500; 8000 KB (a third of a second at 200)
// gave 1.01 of 200 but 0.64 of 500; 16000 KB (a quarter second at 500)
// gave 0.98 of 500. OVS's manual itself advises a burst of 80% of the rate
// for TCP; a quarter second holds the rate, and overshoots it less when
// the port has been idle.
func DefaultPoliceBurst(rateBps uint64) uint64 {
	b := max(rateBps/8/4, ovsPoliceBurst)
	return min((b+1023)/1024*1024, MaxPoliceBurst)
}

const (
	ovsPoliceBurst = 8000 * 1024 / 8
	// MinPoliceBurst is the largest frame a port gives (a 64 KiB GSO
	// super-frame): a smaller bucket could never pass one.
	MinPoliceBurst = 64 << 10
	// MaxPoliceRate bounds the rate (100 Gbit/s), so that costs keep
	// their precision and never overflow.
	MaxPoliceRate = 100e9
	// MaxPoliceBurst bounds the bucket (1 GiB).
	MaxPoliceBurst = 1 << 30
)

// policeShift: costs are kept in ns per byte << policeShift, so that fast
// rates (0.08 ns per byte at 100 Gbit/s) keep four digits of precision.
const policeShift = 16

// policer is a port's bucket. Shared by every snapshot, like PortStats: tat
// carries state between batches.
type policer struct {
	cfg       PoliceConfig // as given, for the control plane
	nsPerByte uint64       // (8e9 / RateBps) << policeShift
	burst     int64        // the bucket, in ns of the rate
	tat       atomic.Int64 // nanotime at which the bucket is full again
}

func newPolicer(c PoliceConfig) (*policer, error) {
	if c.RateBps == 0 {
		return nil, nil
	}
	if c.BurstBytes == 0 {
		c.BurstBytes = DefaultPoliceBurst(c.RateBps)
	}
	switch {
	case c.RateBps > MaxPoliceRate:
		return nil, fmt.Errorf("policing rate %d bit/s is over %d", c.RateBps, uint64(MaxPoliceRate))
	case c.RateBps < 1e6:
		return nil, errors.New("policing rate must be at least 1 Mbit/s")
	case c.BurstBytes < MinPoliceBurst:
		return nil, fmt.Errorf("policing burst %d bytes is smaller than one frame (%d)", c.BurstBytes, MinPoliceBurst)
	case c.BurstBytes > MaxPoliceBurst:
		return nil, fmt.Errorf("policing burst %d bytes is over %d", c.BurstBytes, MaxPoliceBurst)
	}
	p := &policer{cfg: c, nsPerByte: (8e9 << policeShift) / c.RateBps}
	p.burst = p.cost(int(c.BurstBytes))
	return p, nil
}

// cost is the time the rate takes to carry n bytes, in ns. n is at most a
// few MB (wireLen of the worst super-frame), so the product fits.
func (p *policer) cost(n int) int64 {
	return int64(uint64(n) * p.nsPerByte >> policeShift)
}

// policeRun is one batch's use of a policer, all at one time now: tat as
// loaded, and what the frames passed so far cost.
type policeRun struct {
	p   *policer
	now int64
	old int64 // tat as loaded
	t   int64 // max(old, now) + the cost of the frames passed
}

func (p *policer) begin(now int64) policeRun {
	old := p.tat.Load()
	return policeRun{p: p, now: now, old: old, t: max(old, now)}
}

// take reports whether a frame of n bytes on the wire passes, and charges
// it if so. A frame dearer than the whole bucket (a super-frame of tiny
// segments) needs a full bucket, then leaves it in debt: it is never
// starved, and it is still paid for in full.
func (r *policeRun) take(n int) bool {
	c := r.p.cost(n)
	if r.t-r.now+min(c, r.p.burst) > r.p.burst {
		return false
	}
	r.t += c
	return true
}

// commit adds what the batch's passed frames cost to the shared bucket. On
// a race with another worker's batch the cost goes on top of what that
// batch stored (or on now, if the bucket has filled since).
func (r *policeRun) commit() {
	spent := r.t - max(r.old, r.now)
	if spent == 0 {
		return
	}
	for cur := r.old; !r.p.tat.CompareAndSwap(cur, max(cur, r.now)+spent); cur = r.p.tat.Load() {
	}
}

// conforms reports whether a frame of n bytes would pass at time now,
// taking nothing: a trace's dry run.
func (p *policer) conforms(now int64, n int) bool {
	r := p.begin(now)
	return r.take(n)
}

// wireLen is what a frame (virtio_net_hdr + frame) costs the bucket: its
// length, and for a GSO super-frame the length of the segments it stands
// for, every one with its own headers. A namespace's TCP then gets the same
// rate on the wire whether or not its kernel hands vswitchd super-frames,
// and whatever gso_size it picks; charging the super-frame's length alone
// would let a sender with small segments past the rate by the headers it
// never pays for (54 of every 1,514 bytes at the usual MSS, a third at
// 100-byte segments). The headers are found from csum_start (the L4 header,
// which a GSO frame always has) without parsing the frame: Ethernet, any
// VLAN tag, IPv4 or IPv6 and its options all lie before it.
func wireLen(buf []byte) int {
	if !header.VirtioNetHdr(buf).IsGSO() {
		return len(buf) - header.VirtioNetHdrLen // inlined: most frames stop here
	}
	return gsoWireLen(buf)
}

func gsoWireLen(buf []byte) int {
	n := len(buf) - header.VirtioNetHdrLen
	vh := header.VirtioNetHdr(buf)
	mss := int(vh.GSOSize())
	hdrs := int(vh.CsumStart())
	switch vh.GSOType() &^ header.VirtioGSOECN {
	case header.VirtioGSOTCPv4, header.VirtioGSOTCPv6:
		if off := header.VirtioNetHdrLen + hdrs + 12; off < len(buf) {
			hdrs += int(buf[off]>>4) * 4 // the TCP data offset
		}
	case header.VirtioGSOUDPL4:
		hdrs += header.UDPLen
	}
	if mss <= 0 || hdrs <= 0 || hdrs >= n {
		return n // not a super-frame the kernel could cut: its length
	}
	segs := (n - hdrs + mss - 1) / mss
	return n + (segs-1)*hdrs
}

// SetPolice replaces the ingress policer of port idx, with a full bucket;
// a zero rate removes it. The daemon calls it right after AddPort, and
// again on `port set`.
func (dp *Dataplane) SetPolice(idx uint16, c PoliceConfig) error {
	pol, err := newPolicer(c)
	if err != nil {
		return err
	}
	return dp.editPort(idx, func(p *Port) { p.police = pol })
}
