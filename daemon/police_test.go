package daemon

import (
	"strings"
	"testing"

	"vswitch/api"
	"vswitch/dataplane"
	"vswitch/dataplane/port"
)

// plugChanPort adds a port on an in-memory Chan to network "bridge", as
// plugPortLocked would a TAP (whose namespace, in the state, does not
// exist: restarted, the port comes back down).
func plugChanPort(t *testing.T, d *Daemon, name string) {
	t.Helper()
	ch, err := port.NewChan(false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ch.Close() })
	d.mu.Lock()
	defer d.mu.Unlock()
	idx, err := d.dp.AddPort(name, d.nets["bridge"].id, ch)
	if err != nil {
		t.Fatal(err)
	}
	d.st.Ports = append(d.st.Ports, PortState{Name: name, Network: "bridge", Kind: "tap", Netns: "gone",
		NetnsPath: "/run/netns/vst-police-gone", Ifname: "eth0", MAC: "02:42:ac:11:00:02", MTU: 1500})
	d.ports[name] = &portRT{idx: idx, io: ch}
	d.relinkLocked()
	if err := d.st.save(d.opts.StateDir); err != nil {
		t.Fatal(err)
	}
}

func TestPortSetValidation(t *testing.T) {
	d := newTestDaemon(t, t.TempDir())
	plugChanPort(t, d, "c1")
	for _, c := range []struct {
		req    api.PortSet
		status int
		says   string
	}{
		{api.PortSet{}, 400, "nothing to set"},
		{api.PortSet{IngressRateMbit: ptr(-1)}, 400, "bad --rate -1"},
		{api.PortSet{IngressRateMbit: ptr(100001)}, 400, "bad --rate 100001"},
		{api.PortSet{IngressRateMbit: ptr(100), IngressBurstKB: ptr(63)}, 400, "bad --burst 63: want 64 KB"},
		{api.PortSet{IngressRateMbit: ptr(100), IngressBurstKB: ptr(-64)}, 400, "bad --burst -64"},
		{api.PortSet{IngressRateMbit: ptr(100), IngressBurstKB: ptr(1<<20 + 1)}, 400, "bad --burst"},
		{api.PortSet{IngressBurstKB: ptr(100)}, 400, "has no ingress rate"},
		{api.PortSet{IngressRateMbit: ptr(0), IngressBurstKB: ptr(100)}, 400, "takes no --burst"},
	} {
		_, err := d.SetPort("c1", c.req)
		if err == nil || errStatus(err) != c.status || !strings.Contains(err.Error(), c.says) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%+v: %v, want %d saying %q in one line", c.req, err, c.status, c.says)
		}
	}
	if _, err := d.SetPort("nope", api.PortSet{IngressRateMbit: ptr(10)}); err == nil || errStatus(err) != 404 {
		t.Errorf("unknown port: %v, want 404", err)
	}
	// Refused requests changed nothing.
	if ps, _ := d.Ports(""); len(ps) != 1 || ps[0].IngressRateMbit != 0 || ps[0].IngressBurstKB != 0 {
		t.Errorf("ports after refusals: %+v", ps)
	}
}

// The rate, the default burst and a burst given later, kept in the state
// file: a restarted daemon shows them (and gives them to the port when
// its device comes back).
func TestPortSetPersists(t *testing.T) {
	dir := t.TempDir()
	d := newTestDaemon(t, dir)
	plugChanPort(t, d, "c1")
	p, err := d.SetPort("c1", api.PortSet{IngressRateMbit: ptr(200)})
	if err != nil || p.IngressRateMbit != 200 || p.IngressBurstKB != 6104 {
		t.Fatalf("set --rate 200: %+v, %v; want 200 Mbit/s with the default burst, a quarter second (6104 KB)", p, err)
	}
	if p, err = d.SetPort("c1", api.PortSet{IngressBurstKB: ptr(4096)}); err != nil || p.IngressRateMbit != 200 || p.IngressBurstKB != 4096 {
		t.Fatalf("set --burst 4096: %+v, %v", p, err)
	}
	d.Close()
	d2 := newTestDaemon(t, dir)
	ps, err := d2.Ports("")
	if err != nil || len(ps) != 1 || ps[0].IngressRateMbit != 200 || ps[0].IngressBurstKB != 4096 {
		t.Fatalf("after restart: %+v, %v; want 200 Mbit/s, 4096 KB", ps, err)
	}
	// --rate 0 removes it (on a down port too), burst and all.
	if p, err = d2.SetPort("c1", api.PortSet{IngressRateMbit: ptr(0)}); err != nil || p.IngressRateMbit != 0 || p.IngressBurstKB != 0 {
		t.Fatalf("set --rate 0: %+v, %v", p, err)
	}
	d2.Close()
	st, _, _, _, err := loadState(dir)
	if err != nil || len(st.Ports) != 1 || st.Ports[0].IngressRateMbit != 0 || st.Ports[0].IngressBurstKB != 0 {
		t.Fatalf("state after --rate 0: %+v, %v", st.Ports, err)
	}
}

// A policed frame's trace says which stage dropped it, and why.
func TestPoliceTraceText(t *testing.T) {
	d := newTestDaemon(t, t.TempDir())
	plugChanPort(t, d, "c1")
	pt := dataplane.PacketTrace{In: d.ports["c1"].idx, Verdict: dataplane.Verdict{Action: dataplane.ActDrop, Reason: dataplane.DropPoliced}, N: 1}
	pt.Steps[0] = dataplane.Step{Stage: dataplane.StagePolice, Decision: "drop", Reason: dataplane.DropPoliced}
	d.mu.Lock()
	tr := d.renderTraceLocked(&pt)
	d.mu.Unlock()
	if len(tr.Stages) != 1 || tr.Stages[0].Stage != "police" || tr.Stages[0].Reason != "policed" ||
		!strings.Contains(tr.Stages[0].Text, "ingress policing of c1") {
		t.Errorf("trace of a policed frame: %+v", tr.Stages)
	}
}
