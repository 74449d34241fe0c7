package nat

import (
	"testing"
)

func TestCreateLookupBothDirections(t *testing.T) {
	tb, clk := newTestTable(t, Config{})
	k := tcp(client, 40000, server, 443)
	c := mustCreate(t, tb, k, masq, fSYN, clk.Now())
	wantReply := tcp(server, 443, uplink, 40000)
	if c.Reply != wantReply {
		t.Fatalf("reply %v, want %v (source port kept)", c.Reply, wantReply)
	}
	if c.NAT != SNAT {
		t.Fatalf("NAT flags %d, want SNAT", c.NAT)
	}
	got, d := mustLookup(t, tb, k)
	if got != c || d != Original {
		t.Fatalf("lookup original: %p %v, want %p original", got, d, c)
	}
	got, d = mustLookup(t, tb, wantReply)
	if got != c || d != Reply {
		t.Fatalf("lookup reply: %p %v, want %p reply", got, d, c)
	}
	if tgt := c.Target(Original); tgt != tcp(uplink, 40000, server, 443) {
		t.Fatalf("target original %v", tgt)
	}
	if tgt := c.Target(Reply); tgt != tcp(server, 443, client, 40000) {
		t.Fatalf("target reply %v", tgt)
	}
	if _, _, ok := tb.Lookup(tcp(uplink, 40000, server, 443)); ok {
		t.Fatal("the translated original tuple is not a key")
	}
	if tb.Len() != 1 {
		t.Fatalf("Len %d, want 1", tb.Len())
	}
}
