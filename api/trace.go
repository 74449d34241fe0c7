package api

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Trace (`vswitchctl trace`):
//
//	POST /trace       TraceRequest     -> Trace
//	POST /trace/live  TraceLiveRequest -> NDJSON stream of TraceEvent

// TraceRequest is the body of POST /v1/trace: a synthetic packet entering
// at port In. Empty fields take defaults from the port (its MAC and IP; the
// destination MAC the one the container would use: the gateway's for an
// address off its subnet, else the station's).
type TraceRequest struct {
	In     string `json:"in"`
	SrcMAC string `json:"src_mac,omitempty"`
	DstMAC string `json:"dst_mac,omitempty"`
	Src    string `json:"src,omitempty"`
	Dst    string `json:"dst"`
	Proto  string `json:"proto,omitempty"` // tcp | udp | icmp; default tcp with --dport, else icmp
	SPort  int    `json:"sport,omitempty"` // icmp: the echo identifier
	DPort  int    `json:"dport,omitempty"`
}

// TraceLiveRequest is the body of POST /v1/trace/live: which real packets
// to follow (empty fields match anything; addresses and dport match either
// direction, so answers are followed too) and how many.
type TraceLiveRequest struct {
	Port  string `json:"port,omitempty"` // in or out of this port
	Src   string `json:"src,omitempty"`
	Dst   string `json:"dst,omitempty"`
	Proto string `json:"proto,omitempty"`
	DPort int    `json:"dport,omitempty"`
	Drops bool   `json:"drops,omitempty"` // only packets the pipeline drops
	Count int    `json:"count,omitempty"` // packets; 0: 10
}

// TraceFrame is what a trace shows of a frame.
type TraceFrame struct {
	SrcMAC string `json:"src_mac"`
	DstMAC string `json:"dst_mac"`
	Type   string `json:"type"` // ipv4 | arp | ipv6 | 0xNNNN
	Src    string `json:"src,omitempty"`
	Dst    string `json:"dst,omitempty"`
	Proto  string `json:"proto,omitempty"`
	SPort  int    `json:"sport,omitempty"`
	DPort  int    `json:"dport,omitempty"`
	ICMP   string `json:"icmp,omitempty"` // echo-request, echo-reply, type N
	ARP    string `json:"arp,omitempty"`  // request | reply
	TTL    int    `json:"ttl,omitempty"`
	Len    int    `json:"len"`
}

// TraceStage is one stage's decision and the state it used; the objects
// a stage did not use are absent.
type TraceStage struct {
	Stage     string          `json:"stage"`
	Decision  string          `json:"decision"`
	Reason    string          `json:"reason,omitempty"` // a drop reason, as `stats` names it
	Note      string          `json:"note,omitempty"`
	Text      string          `json:"text"` // the line the text output prints after the stage name
	FDB       *TraceFDB       `json:"fdb,omitempty"`
	ARP       *Neighbor       `json:"arp,omitempty"`
	Route     *Route          `json:"route,omitempty"`
	Conntrack *TraceConn      `json:"conntrack,omitempty"`
	NAT       *TraceNAT       `json:"nat,omitempty"`
	ACL       *TraceACL       `json:"acl,omitempty"`
	Isolation *TraceIsolation `json:"isolation,omitempty"`
}

// TraceFDB is the FDB entry a stage used.
type TraceFDB struct {
	MAC    string `json:"mac"`
	Port   string `json:"port"`
	AgeS   int64  `json:"age_s"`
	Static bool   `json:"static"`
}

// TraceConn is the conn of a flow: found (new false), or the one a new flow
// gets (would get, in a dry run).
type TraceConn struct {
	New   bool            `json:"new"`
	Proto string          `json:"proto"`
	Orig  ConntrackTuple  `json:"orig"`
	Reply *ConntrackTuple `json:"reply,omitempty"` // absent while no conn exists or is planned
	State string          `json:"state,omitempty"`
}

// TraceNAT is a rewrite: kind snat, dnat or snat+dnat.
type TraceNAT struct {
	Kind string         `json:"kind"`
	From ConntrackTuple `json:"from"`
	To   ConntrackTuple `json:"to"`
}

// TraceACL is the ACL decision: the rule's ID, 0 for the network's default.
type TraceACL struct {
	Network string `json:"network"`
	Rule    int    `json:"rule"`
	Action  string `json:"action"`
}

// TraceIsolation is the policy between the source network and the one the
// route leads to.
type TraceIsolation struct {
	From   string `json:"from"`
	To     string `json:"to"`
	Reason string `json:"reason,omitempty"`
}

// TraceVerdict is what happens to the packet.
type TraceVerdict struct {
	Action string      `json:"action"` // forward | drop | consumed
	Ports  []string    `json:"ports,omitempty"`
	Reason string      `json:"reason,omitempty"`
	SentAs *TraceFrame `json:"sent_as,omitempty"`
	Text   string      `json:"text"` // what the text output prints after "Verdict: "
}

// Trace is one packet's walk through the pipeline.
type Trace struct {
	In        string       `json:"in"`
	Network   string       `json:"network"`
	Time      string       `json:"time,omitempty"` // live traces: when the packet came
	Frame     TraceFrame   `json:"frame"`
	Stages    []TraceStage `json:"stages"`
	Verdict   TraceVerdict `json:"verdict"`
	Truncated bool         `json:"truncated,omitempty"`
}

// TraceEvent is one line of the live stream: a packet, or the end.
type TraceEvent struct {
	Trace    *Trace    `json:"trace,omitempty"`
	End      *TraceEnd `json:"end,omitempty"`
	Overflow uint64    `json:"overflow"` // records lost so far: the workers never wait for a reader
}

// TraceEnd closes a live stream.
type TraceEnd struct {
	Packets  int    `json:"packets"`
	Overflow uint64 `json:"overflow"`
	Why      string `json:"why"` // count reached, stopped
}

// Open sends method path with in as the JSON body (nil for none) and
// returns the answer's body to read as it comes (a capture, a live
// trace); an error status comes back as a *StatusError. There is no
// timeout: the stream lasts until the daemon ends it or ctx is cancelled.
func (c *Client) Open(ctx context.Context, method, path string, in any) (io.ReadCloser, error) {
	resp, err := c.send(ctx, &http.Client{Transport: c.hc.Transport}, method, path, in)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 400 {
		defer resp.Body.Close()
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return nil, statusError(resp.StatusCode, data)
	}
	return resp.Body, nil
}

// Stream sends method path with in as the JSON body and calls line for each
// line of the answer (NDJSON) until the daemon ends it, ctx is cancelled or
// line returns an error. There is no timeout: a stream lasts as long as
// its reader wants.
func (c *Client) Stream(ctx context.Context, method, path string, in any, line func([]byte) error) error {
	body, err := c.Open(ctx, method, path, in)
	if err != nil {
		return err
	}
	defer body.Close()
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		if err := line(sc.Bytes()); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("the stream from vswitchd broke: %v", err)
	}
	return ctx.Err()
}

// String is the frame in one line, as tcpdump -e would put it: what the
// daemon writes in a verdict and the CLI in a trace's first line.
func (f TraceFrame) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s > %s", f.SrcMAC, f.DstMAC)
	switch {
	case f.Type == "arp":
		fmt.Fprintf(&b, ", arp %s %s > %s", f.ARP, f.Src, f.Dst)
	case f.Type == "ipv6" && f.Src != "":
		fmt.Fprintf(&b, ", ipv6 %s %s > %s", f.Proto, f.Src, f.Dst)
		if f.ICMP != "" {
			fmt.Fprintf(&b, " %s", f.ICMP)
		}
	case f.Type != "ipv4":
		fmt.Fprintf(&b, ", %s", f.Type)
	case f.Proto == "tcp" || f.Proto == "udp":
		fmt.Fprintf(&b, ", %s %s:%d > %s:%d", f.Proto, f.Src, f.SPort, f.Dst, f.DPort)
	case f.Proto == "icmp":
		fmt.Fprintf(&b, ", icmp %s > %s %s", f.Src, f.Dst, f.ICMP)
	default:
		fmt.Fprintf(&b, ", %s %s > %s", f.Proto, f.Src, f.Dst)
	}
	if f.TTL > 0 {
		fmt.Fprintf(&b, ", ttl %d", f.TTL)
	}
	return b.String()
}
