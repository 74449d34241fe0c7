package dataplane

import (
	"net/netip"
	"testing"

	"vswitch/dataplane/port"
	"vswitch/fdb"
)

// TestSteerKeepsFlowOnItsQueue: two workers, a two-queue "TAP" t and a
// single-queue port u on one network. The answers of a flow that t sent
// on queue q come back on queue q, whichever worker serves u, so the flow
// never moves between workers (steer.go).
func TestSteerKeepsFlowOnItsQueue(t *testing.T) {
	tb := newTestbed(t, 2)
	n := tb.network("n", fdb.Config{})
	q0, _ := port.NewChan(true)
	q1, _ := port.NewChan(true)
	t.Cleanup(func() { q0.Close(); q1.Close() })
	ti, err := tb.dp.AddPortQueues("t", n, []port.Port{q0, q1})
	if err != nil {
		t.Fatal(err)
	}
	u := tb.port("u", n)
	macT, macU := stationMAC(1), stationMAC(2)
	ipT, ipU := netip.MustParseAddr("10.9.0.1"), netip.MustParseAddr("10.9.0.2")
	tPort := &tport{name: "t", idx: ti, net: n, ch: q0, stats: tb.dp.PortStats(ti)}
	tb.mu.Lock()
	tb.ports = append(tb.ports, tPort, &tport{name: "t/1", idx: ti, net: n, ch: q1, stats: &PortStats{}})
	tb.mu.Unlock()

	for _, c := range []struct {
		queue *port.Chan
		sport uint16
	}{{q1, 1000}, {q0, 2000}, {q1, 3000}, {q0, 4000}} {
		out := udpPkt(t, pkt{dstMAC: macU, srcMAC: macT, src: ipT, dst: ipU, ttl: 64}, c.sport, 53, []byte("q"))
		tb.sent.Add(1)
		c.queue.Send(out)
		tb.settle()
		if got := u.ch.Recv(); len(got) != 1 {
			t.Fatalf("flow %d: u got %d frames, want 1", c.sport, len(got))
		}
		back := udpPkt(t, pkt{dstMAC: macT, srcMAC: macU, src: ipU, dst: ipT, ttl: 64}, 53, c.sport, []byte("a"))
		tb.send(u, back)
		tb.settle()
		other := q0
		if c.queue == q0 {
			other = q1
		}
		if got := c.queue.Recv(); len(got) != 1 {
			t.Errorf("flow %d: the answer did not come back on the queue the flow uses (%d frames there)", c.sport, len(got))
		}
		if got := other.Recv(); len(got) != 0 {
			t.Errorf("flow %d: %d frames on the other queue", c.sport, len(got))
		}
	}
}
