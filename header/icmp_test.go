package header

import (
	"bytes"
	"testing"

	"github.com/google/gopacket/layers"
)

func TestICMPv4AgainstGopacket(t *testing.T) {
	tests := []struct {
		name      string
		typ, code uint8
		id, seq   uint16
		data      []byte
		isErr     bool
	}{
		{"echo", Echo, 0, 0x1234, 7, []byte("abcdefgh"), false},
		{"echo reply", EchoReply, 0, 1, 65535, nil, false},
		{"net unreachable", DestUnreachable, NetUnreachable, 0, 0, make([]byte, 28), true},
		{"host unreachable", DestUnreachable, HostUnreachable, 0, 0, make([]byte, 28), true},
		{"frag needed", DestUnreachable, FragNeeded, 0, 1400, make([]byte, 28), true},
		{"ttl exceeded", TimeExceeded, TTLExceeded, 0, 0, make([]byte, 28), true},
		{"source quench", SourceQuench, 0, 0, 0, nil, true},
		{"redirect", Redirect, 1, 0, 0, nil, true},
		{"param problem", ParamProblem, 0, 0, 0, nil, true},
		{"timestamp", 13, 0, 0, 0, make([]byte, 12), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(tt.typ, tt.code), Id: tt.id, Seq: tt.seq}
			b := serialize(t, g, gopacketPayload(tt.data))
			m := ICMPv4(b)
			if !m.Valid() {
				t.Fatal("Valid() = false")
			}
			if m.Type() != tt.typ || m.Code() != tt.code || m.ID() != tt.id || m.Seq() != tt.seq {
				t.Errorf("type/code/id/seq = %d/%d/%d/%d", m.Type(), m.Code(), m.ID(), m.Seq())
			}
			if m.Checksum() != g.Checksum || m.ComputeChecksum() != g.Checksum {
				t.Errorf("Checksum %#04x ComputeChecksum %#04x, gopacket %#04x", m.Checksum(), m.ComputeChecksum(), g.Checksum)
			}
			if m.IsError() != tt.isErr {
				t.Errorf("IsError = %v", m.IsError())
			}
			if m.Rest() != uint32(tt.id)<<16|uint32(tt.seq) {
				t.Errorf("Rest = %#x", m.Rest())
			}
			if tt.code == FragNeeded && tt.typ == DestUnreachable && m.MTU() != tt.seq {
				t.Errorf("MTU = %d", m.MTU())
			}
			if !bytes.Equal(m.Payload(), tt.data) {
				t.Errorf("Payload = % x", m.Payload())
			}
		})
	}
}

// TestICMPv4BuildFragNeeded builds the message a router sends when DF
// forbids fragmenting (RFC 1191 section 4), with gopacket as the judge.
func TestICMPv4BuildFragNeeded(t *testing.T) {
	m := make(ICMPv4, ICMPv4MinLen+28)
	m.SetType(DestUnreachable)
	m.SetCode(FragNeeded)
	m.SetRest(0)
	m.SetMTU(1450)
	copy(m.Payload(), "offending header + 8 bytes..")
	m.SetChecksum(m.ComputeChecksum())
	want := serialize(t, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(DestUnreachable, FragNeeded), Seq: 1450},
		gopacketPayload([]byte("offending header + 8 bytes..")))
	if !bytes.Equal(m, want) {
		t.Errorf("built\n% x\nwant\n% x", []byte(m), want)
	}
	if Fold(Checksum(m, 0)) != 0xffff {
		t.Error("checksum does not verify")
	}
	m.SetType(Echo)
	m.SetID(3)
	m.SetSeq(4)
	if m.ID() != 3 || m.Seq() != 4 || m.IsError() {
		t.Error("echo setters")
	}
}

func TestICMPv4Valid(t *testing.T) {
	if ICMPv4(make([]byte, 7)).Valid() || !ICMPv4(make([]byte, 8)).Valid() {
		t.Error("Valid must require the 8 fixed bytes")
	}
}
