package main

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

const fakeTrace = `{"in": "c1", "network": "net1",
 "frame": {"src_mac": "02:42:ac:16:00:02", "dst_mac": "02:42:ac:16:00:01", "type": "ipv4", "src": "172.22.0.2", "dst": "172.23.0.3", "proto": "tcp", "sport": 40000, "dport": 80, "ttl": 64, "len": 60},
 "stages": [
  {"stage": "route", "decision": "hit", "text": "route 172.23.0.0/16 connected on net2"},
  {"stage": "isolation", "decision": "drop", "reason": "isolation", "text": "net1 -> net2: not connected"}],
 "verdict": {"action": "drop", "reason": "isolation", "text": "drop (isolation)"}}`

// TestTraceDryRun: the request carries the flags; the text is the packet,
// a line per stage, and the verdict last; -o json is the daemon's object.
func TestTraceDryRun(t *testing.T) {
	f := newFakeDaemon(t)
	f.on("POST /v1/trace", 200, fakeTrace)
	code, out, errs := f.ctl("trace", "--in", "c1", "--dst", "172.23.0.3", "--dport", "80", "--src-mac", "02:42:ac:16:00:02")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var body map[string]any
	if err := json.Unmarshal(f.last(t).body, &body); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"in": "c1", "dst": "172.23.0.3", "dport": float64(80), "src_mac": "02:42:ac:16:00:02"}
	if !reflect.DeepEqual(body, want) {
		t.Errorf("body %v, want %v", body, want)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "Packet: in c1 (net1): 02:42:ac:16:00:02 > 02:42:ac:16:00:01, tcp 172.22.0.2:40000 > 172.23.0.3:80") ||
		!strings.Contains(lines[2], "isolation") || !strings.Contains(lines[2], "drop (isolation)") || lines[3] != "Verdict: drop (isolation)" {
		t.Errorf("text:\n%s", out)
	}

	code, out, _ = f.ctl("-o", "json", "trace", "--in", "c1", "--dst", "172.23.0.3")
	if code != 0 {
		t.Fatalf("-o json: exit %d", code)
	}
	hasKeys(t, "trace -o json", decode(t, out), "in", "network", "frame", "stages", "verdict")
}

// TestTraceErrors: a daemon refusal is one line, exit 1; flags of the other
// form, or no --in/--dst, are usage errors, exit 2, and send nothing.
func TestTraceErrors(t *testing.T) {
	f := newFakeDaemon(t)
	f.on("POST /v1/trace", http.StatusBadRequest, `{"error": "no port nope: give --in one of 'vswitchctl port ls'"}`)
	code, out, errs := f.ctl("trace", "--in", "nope", "--dst", "10.0.0.1")
	if code != 1 || !strings.Contains(errs, "port ls") {
		t.Errorf("unknown port: exit %d, stderr %q", code, errs)
	}
	checkErrorLine(t, out, errs)
	n := len(f.requests())
	for _, args := range [][]string{
		{"trace", "--dst", "10.0.0.1"},
		{"trace", "--in", "c1"},
		{"trace", "--in", "c1", "--dst", "10.0.0.1", "--count", "3"},
		{"trace", "--live", "--sport", "5"},
		{"trace", "--in", "c1", "--dst", "10.0.0.1", "--drops"},
		{"trace", "extra", "--in", "c1", "--dst", "10.0.0.1"},
	} {
		code, out, errs := f.ctl(args...)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", args, code, errs)
		}
		checkErrorLine(t, out, errs)
	}
	if len(f.requests()) != n {
		t.Errorf("usage errors reached the daemon: %+v", f.requests()[n:])
	}
}

// TestTraceLive: the stream is printed packet by packet, then the count;
// records the daemon lost are reported.
func TestTraceLive(t *testing.T) {
	f := newFakeDaemon(t)
	rec := strings.ReplaceAll(fakeTrace, "\n", "")
	f.on("POST /v1/trace/live", 200, `{"trace": `+rec+`, "overflow": 0}`+"\n"+`{"trace": `+rec+`, "overflow": 4}`+"\n"+
		`{"end": {"packets": 2, "overflow": 4, "why": "count reached"}, "overflow": 4}`+"\n")
	code, out, errs := f.ctl("trace", "--live", "--src", "172.22.0.2", "--proto", "icmp", "--drops", "--count", "2")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var body map[string]any
	json.Unmarshal(f.last(t).body, &body)
	if want := map[string]any{"src": "172.22.0.2", "proto": "icmp", "drops": true, "count": float64(2)}; !reflect.DeepEqual(body, want) {
		t.Errorf("body %v, want %v", body, want)
	}
	if c := strings.Count(out, "Verdict: drop (isolation)"); c != 2 {
		t.Errorf("%d verdicts, want 2:\n%s", c, out)
	}
	if !strings.Contains(out, "2 packets traced (count reached); 4 records lost") {
		t.Errorf("no summary with the lost records:\n%s", out)
	}

	code, out, _ = f.ctl("-o", "json", "trace", "--live")
	if code != 0 || strings.Count(out, "\n") != 3 {
		t.Errorf("-o json: exit %d, want 3 NDJSON lines:\n%s", code, out)
	}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		decode(t, l)
	}
}
