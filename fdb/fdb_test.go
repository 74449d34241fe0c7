package fdb

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"vswitch/header"
)

const (
	s1 = int64(time.Second)
	t0 = int64(1_700_000_000) * s1 // any fixed base works
)

var (
	macA = mustMAC("02:42:ac:11:00:02")
	macB = mustMAC("02:42:ac:11:00:03")
	macC = mustMAC("52:54:00:12:34:56")
	macD = mustMAC("de:ad:be:ef:00:01")
)

func mustMAC(s string) uint64 {
	m, err := header.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m.Uint64()
}

func wantLearn(t *testing.T, tab *Table, mac uint64, port uint16, now int64, want LearnResult) {
	t.Helper()
	if got := tab.Learn(mac, port, now); got != want {
		t.Fatalf("Learn(%s, %d) = %v, want %v", header.MACFromUint64(mac), port, got, want)
	}
}

func wantPort(t *testing.T, tab *Table, mac uint64, port uint16) {
	t.Helper()
	if got, ok := tab.Lookup(mac); !ok || got != port {
		t.Fatalf("Lookup(%s) = %d,%v, want %d,true", header.MACFromUint64(mac), got, ok, port)
	}
}

func wantMissing(t *testing.T, tab *Table, mac uint64) {
	t.Helper()
	if got, ok := tab.Lookup(mac); ok {
		t.Fatalf("Lookup(%s) = %d, want a miss", header.MACFromUint64(mac), got)
	}
}

func wantCount(t *testing.T, tab *Table, port uint16, want int) {
	t.Helper()
	if got := tab.PortCount(port); got != want {
		t.Fatalf("PortCount(%d) = %d, want %d", port, got, want)
	}
}

func TestLearnAndLookup(t *testing.T) {
	tab := New(Config{})
	wantMissing(t, tab, macA)
	wantLearn(t, tab, macA, 1, t0, Learned)
	wantLearn(t, tab, macA, 1, t0+s1, Known)
	wantLearn(t, tab, macB, 2, t0, Learned)
	wantPort(t, tab, macA, 1)
	wantPort(t, tab, macB, 2)
	wantMissing(t, tab, macC)
	if tab.Len() != 2 {
		t.Fatalf("Len = %d, want 2", tab.Len())
	}
	// Port 0 and MaxPort are ordinary ports.
	wantLearn(t, tab, macC, 0, t0, Learned)
	wantLearn(t, tab, macD, MaxPort, t0, Learned)
	wantPort(t, tab, macC, 0)
	wantPort(t, tab, macD, MaxPort)
}

func TestLearnRefusesInvalid(t *testing.T) {
	tab := New(Config{})
	for _, tc := range []struct {
		mac  uint64
		port uint16
	}{
		{0, 1},
		{mustMAC("01:00:5e:00:00:01"), 1}, // IPv4 multicast
		{mustMAC("ff:ff:ff:ff:ff:ff"), 1},
		{1<<48 | macA, 1},
		{macA, MaxPort + 1},
		{macA, 0xffff},
	} {
		wantLearn(t, tab, tc.mac, tc.port, t0, Invalid)
		if err := tab.AddStatic(tc.mac, tc.port); err == nil {
			t.Errorf("AddStatic(%#x, %d) accepted", tc.mac, tc.port)
		}
	}
	// A zero MAC must not match the empty or deleted markers either.
	wantLearn(t, tab, macA, MaxPort, t0, Learned)
	tab.Delete(macA)
	wantLearn(t, tab, 0, MaxPort, t0, Invalid)
	wantMissing(t, tab, 0)
	if tab.Len() != 0 || tab.Delete(0) {
		t.Fatalf("Len = %d after refusing everything", tab.Len())
	}
}

func TestAddStaticErrorsSayWhy(t *testing.T) {
	tab := New(Config{})
	for _, tc := range []struct {
		mac  uint64
		port uint16
		want error
	}{
		{0, 1, errZeroMAC},
		{mustMAC("33:33:00:00:00:01"), 1, errMulticast},
		{1 << 50, 1, errWideMAC},
		{macA, MaxPort + 1, errPortLength},
	} {
		err := tab.AddStatic(tc.mac, tc.port)
		if !errors.Is(err, tc.want) {
			t.Errorf("AddStatic(%#x, %d) = %v, want %v", tc.mac, tc.port, err, tc.want)
		}
	}
	err := tab.AddStatic(mustMAC("33:33:00:00:00:01"), 1)
	if want := "fdb: static entry for 33:33:00:00:00:01 on port 1: multicast address: static entries are for unicast stations"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}

func TestMove(t *testing.T) {
	tab := New(Config{})
	wantLearn(t, tab, macA, 1, t0, Learned)
	wantLearn(t, tab, macA, 2, t0+s1, Moved)
	wantPort(t, tab, macA, 2)
	wantCount(t, tab, 1, 0)
	wantCount(t, tab, 2, 1)
	wantLearn(t, tab, macA, 2, t0+2*s1, Known)
	wantLearn(t, tab, macA, 1, t0+3*s1, Moved)
	wantPort(t, tab, macA, 1)
	if tab.Len() != 1 {
		t.Fatalf("Len = %d after moves, want 1", tab.Len())
	}
	// A move resets the age: the station was just seen.
	if e := tab.Entries(t0 + 5*s1); e[0].Age != 2*time.Second {
		t.Fatalf("age after move = %v, want 2s", e[0].Age)
	}
}

func TestStatic(t *testing.T) {
	tab := New(Config{Aging: 10 * time.Second})
	if err := tab.AddStatic(macA, 3); err != nil {
		t.Fatal(err)
	}
	wantPort(t, tab, macA, 3)
	wantLearn(t, tab, macA, 4, t0, StaticConflict)
	wantPort(t, tab, macA, 3)
	wantLearn(t, tab, macA, 3, t0, Known)
	if n := tab.Age(t0 + 1000*s1); n != 0 {
		t.Fatalf("Age removed %d static entries", n)
	}
	wantPort(t, tab, macA, 3)

	// A static entry replaces a dynamic one and frees its place in the count.
	wantLearn(t, tab, macB, 1, t0, Learned)
	wantCount(t, tab, 1, 1)
	if err := tab.AddStatic(macB, 2); err != nil {
		t.Fatal(err)
	}
	wantPort(t, tab, macB, 2)
	wantCount(t, tab, 1, 0)
	wantCount(t, tab, 2, 0)
	// ...and a later static entry replaces an earlier one.
	if err := tab.AddStatic(macB, 5); err != nil {
		t.Fatal(err)
	}
	wantPort(t, tab, macB, 5)

	want := []Entry{{MAC: macA, Port: 3, Static: true}, {MAC: macB, Port: 5, Static: true}}
	if got := tab.Entries(t0 + 2000*s1); !slices.Equal(got, want) {
		t.Fatalf("Entries = %v, want %v", got, want)
	}
	if !tab.Delete(macA) || tab.Delete(macA) {
		t.Fatal("Delete of a static entry")
	}
	wantMissing(t, tab, macA)
	wantLearn(t, tab, macA, 4, t0, Learned)
}

func TestAging(t *testing.T) {
	tab := New(Config{}) // default 300 s
	wantLearn(t, tab, macA, 1, t0, Learned)
	wantLearn(t, tab, macB, 1, t0, Learned)
	wantLearn(t, tab, macC, 2, t0, Learned)
	wantLearn(t, tab, macB, 1, t0+100*s1, Known) // refreshed

	if n := tab.Age(t0 + 300*s1); n != 0 {
		t.Fatalf("Age at exactly the aging time removed %d", n)
	}
	if n := tab.Age(t0 + 300*s1 + 1); n != 2 {
		t.Fatalf("Age removed %d, want 2 (A and C)", n)
	}
	wantMissing(t, tab, macA)
	wantMissing(t, tab, macC)
	wantPort(t, tab, macB, 1)
	wantCount(t, tab, 1, 1)
	wantCount(t, tab, 2, 0)
	if n := tab.Age(t0 + 401*s1); n != 1 {
		t.Fatalf("Age removed %d, want 1 (B)", n)
	}
	if tab.Len() != 0 {
		t.Fatalf("Len = %d after aging everything", tab.Len())
	}

	tab.SetAging(-1)
	wantLearn(t, tab, macA, 1, t0, Learned)
	if n := tab.Age(t0 + 1e6*s1); n != 0 {
		t.Fatalf("Age with aging off removed %d", n)
	}
	tab.SetAging(time.Second)
	if n := tab.Age(t0 + 2*s1); n != 1 {
		t.Fatalf("Age after SetAging(1s) removed %d, want 1", n)
	}
	tab.SetAging(0)
	if got := time.Duration(tab.aging.Load()); got != DefaultAging {
		t.Fatalf("SetAging(0) gave %v, want the default", got)
	}
}

// A known MAC's time is rewritten at most once per refresh slack, so frames
// of one flow do not all store to the same cache line; aging is that much
// early at worst.
func TestRefreshSlack(t *testing.T) {
	tab := New(Config{Aging: 64 * time.Second}) // slack: 1 s
	wantLearn(t, tab, macA, 1, t0, Learned)
	wantLearn(t, tab, macA, 1, t0+s1, Known) // exactly the slack: skipped
	if e := tab.Entries(t0 + s1); e[0].Age != time.Second {
		t.Fatalf("age %v, want 1s: refresh within the slack was stored", e[0].Age)
	}
	wantLearn(t, tab, macA, 1, t0+s1+1, Known)
	if e := tab.Entries(t0 + 2*s1); e[0].Age != time.Second-1 {
		t.Fatalf("age %v, want 1s-1ns", e[0].Age)
	}
	// Time going backwards (a worker with an older clock reading) never
	// makes an entry older.
	wantLearn(t, tab, macA, 1, t0, Known)
	if e := tab.Entries(t0 + 2*s1); e[0].Age != time.Second-1 {
		t.Fatalf("age %v after an older refresh", e[0].Age)
	}

	tab.SetAging(640 * time.Millisecond) // slack: 10 ms
	wantLearn(t, tab, macA, 1, t0+s1+1+int64(11*time.Millisecond), Known)
	if e, want := tab.Entries(t0+2*s1), time.Second-1-11*time.Millisecond; e[0].Age != want {
		t.Fatalf("age %v, want %v", e[0].Age, want)
	}
}

func TestMACLimit(t *testing.T) {
	tab := New(Config{MACLimit: 2, Aging: 10 * time.Second})
	wantLearn(t, tab, macA, 1, t0, Learned)
	wantLearn(t, tab, macB, 1, t0+5*s1, Learned)
	wantLearn(t, tab, macC, 1, t0, LimitExceeded)
	wantMissing(t, tab, macC)
	wantLearn(t, tab, macC, 2, t0, Learned) // other ports have their own count
	wantCount(t, tab, 1, 2)
	wantLearn(t, tab, macA, 1, t0, Known) // known MACs still refresh

	// Moving away frees a place; moving into a full port is refused and
	// leaves the station where it was.
	wantLearn(t, tab, macA, 2, t0, Moved)
	wantCount(t, tab, 1, 1)
	wantCount(t, tab, 2, 2)
	wantLearn(t, tab, macD, 1, t0, Learned)
	wantLearn(t, tab, macB, 2, t0, LimitExceeded)
	wantPort(t, tab, macB, 1)

	// Deleting frees a place.
	tab.Delete(macA)
	wantCount(t, tab, 2, 1)
	wantLearn(t, tab, macB, 2, t0+5*s1, Moved)
	wantCount(t, tab, 1, 1)

	// Aging frees places: C (port 2, seen t0) and D (port 1, seen t0) go.
	if n := tab.Age(t0 + 11*s1); n != 2 {
		t.Fatalf("Age removed %d, want 2", n)
	}
	wantCount(t, tab, 1, 0)
	wantCount(t, tab, 2, 1)

	// Static entries do not count and are not limited.
	for i, mac := range []uint64{macA, macC, macD} {
		if err := tab.AddStatic(mac, 2); err != nil {
			t.Fatal(i, err)
		}
	}
	wantCount(t, tab, 2, 1)
	wantLearn(t, tab, mustMAC("02:00:00:00:00:01"), 2, t0, Learned)
	wantLearn(t, tab, mustMAC("02:00:00:00:00:02"), 2, t0, LimitExceeded)

	// Lowering the limit keeps what is there; 0 lifts it.
	tab.SetMACLimit(1)
	wantPort(t, tab, mustMAC("02:00:00:00:00:01"), 2)
	wantLearn(t, tab, mustMAC("02:00:00:00:00:02"), 2, t0, LimitExceeded)
	tab.SetMACLimit(0)
	for i := range 100 {
		wantLearn(t, tab, mustMAC("06:00:00:00:00:00")+uint64(i), 2, t0, Learned)
	}
	wantCount(t, tab, 2, 102)
}

func TestFlushPort(t *testing.T) {
	tab := New(Config{MACLimit: 2})
	wantLearn(t, tab, macA, 1, t0, Learned)
	wantLearn(t, tab, macB, 1, t0, Learned)
	wantLearn(t, tab, macC, 2, t0, Learned)
	if err := tab.AddStatic(macD, 1); err != nil {
		t.Fatal(err)
	}
	if n := tab.FlushPort(1); n != 3 {
		t.Fatalf("FlushPort removed %d, want 3 (two dynamic, one static)", n)
	}
	wantMissing(t, tab, macA)
	wantMissing(t, tab, macB)
	wantMissing(t, tab, macD)
	wantPort(t, tab, macC, 2)
	wantCount(t, tab, 1, 0)
	if tab.Len() != 1 || tab.FlushPort(1) != 0 || tab.FlushPort(MaxPort+1) != 0 {
		t.Fatal("second flush")
	}
	// The port index is reused by the next port: it starts with a full quota.
	wantLearn(t, tab, macA, 1, t0, Learned)
	wantLearn(t, tab, macB, 1, t0, Learned)
}

func TestDelete(t *testing.T) {
	tab := New(Config{})
	wantLearn(t, tab, macA, 1, t0, Learned)
	if !tab.Delete(macA) {
		t.Fatal("Delete of a present MAC returned false")
	}
	if tab.Delete(macA) || tab.Delete(macB) {
		t.Fatal("Delete of an absent MAC returned true")
	}
	wantMissing(t, tab, macA)
	wantCount(t, tab, 1, 0)
	wantLearn(t, tab, macA, 1, t0, Learned)
}

func TestEntries(t *testing.T) {
	tab := New(Config{})
	wantLearn(t, tab, macD, 4, t0, Learned)
	wantLearn(t, tab, macA, 1, t0+10*s1, Learned)
	if err := tab.AddStatic(macC, 3); err != nil {
		t.Fatal(err)
	}
	wantLearn(t, tab, macB, 2, t0+30*s1, Learned)
	got := tab.Entries(t0 + 40*s1)
	want := []Entry{
		{MAC: macA, Port: 1, Age: 30 * time.Second},
		{MAC: macB, Port: 2, Age: 10 * time.Second},
		{MAC: macC, Port: 3, Static: true},
		{MAC: macD, Port: 4, Age: 40 * time.Second},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Entries =\n%v\nwant\n%v", got, want)
	}
	// A clock behind the last refresh shows age 0, not a negative one.
	if e := tab.Entries(t0); e[1].Age != 0 {
		t.Fatalf("age %v for an entry seen in the future", e[1].Age)
	}
	if e := New(Config{}).Entries(t0); e == nil || len(e) != 0 {
		t.Fatalf("empty table Entries = %#v, want an empty slice", e)
	}
}

func TestGrowAndShrink(t *testing.T) {
	tab := New(Config{Aging: 10 * time.Second})
	start := len(tab.cur.Load().keys)
	const n = 50_000
	for i := range uint64(n) {
		wantLearn(t, tab, 0x020000000000+i*7919, uint16(i%100), t0+int64(i), Learned)
	}
	if tab.Len() != n {
		t.Fatalf("Len = %d, want %d", tab.Len(), n)
	}
	if got := len(tab.cur.Load().keys); got != 1<<17 {
		t.Fatalf("%d slots for %d entries, want 2^17", got, n)
	}
	for i := range uint64(n) {
		wantPort(t, tab, 0x020000000000+i*7919, uint16(i%100))
	}
	// Keep every 100th alive, let the rest age out: the table shrinks.
	for i := uint64(0); i < n; i += 100 {
		wantLearn(t, tab, 0x020000000000+i*7919, 0, t0+5*s1, Known)
	}
	if got := tab.Age(t0 + 12*s1); got != n-n/100 {
		t.Fatalf("Age removed %d, want %d", got, n-n/100)
	}
	if got := len(tab.cur.Load().keys); got != 1<<10 {
		t.Fatalf("%d slots after aging to %d entries, want 2^10", got, tab.Len())
	}
	for i := uint64(0); i < n; i += 100 {
		wantPort(t, tab, 0x020000000000+i*7919, 0)
	}
	tab.FlushPort(0)
	if got := len(tab.cur.Load().keys); got != start {
		t.Fatalf("%d slots when empty, want %d", got, start)
	}

	// InitialSize is a floor.
	tab = New(Config{InitialSize: 1000})
	if got := len(tab.cur.Load().keys); got != 2048 {
		t.Fatalf("InitialSize 1000: %d slots, want 2048", got)
	}
	wantLearn(t, tab, macA, 1, t0, Learned)
	tab.FlushPort(1)
	if got := len(tab.cur.Load().keys); got != 2048 {
		t.Fatalf("shrunk below InitialSize to %d slots", got)
	}
}

// Deleting and learning over and over fills slots with tombstones; the table
// must clean them up in place instead of growing.
func TestTombstonesDoNotGrowTable(t *testing.T) {
	tab := New(Config{})
	for i := range uint64(100_000) {
		mac := 0x020000000000 + i
		wantLearn(t, tab, mac, 1, t0, Learned)
		if i >= 4 {
			tab.Delete(mac - 4)
		}
	}
	if got := len(tab.cur.Load().keys); got != minSlots {
		t.Fatalf("%d slots for 4 entries after churn, want %d", got, minSlots)
	}
	for i := range uint64(4) {
		wantPort(t, tab, 0x020000000000+100_000-1-i, 1)
	}
}

func TestHotPathsDoNotAllocate(t *testing.T) {
	tab := New(Config{})
	for i := range uint64(1000) {
		tab.Learn(0x020000000000+i, uint16(i%8), t0)
	}
	now := t0
	for name, f := range map[string]func(){
		"Lookup hit":  func() { tab.Lookup(0x020000000000 + 77) },
		"Lookup miss": func() { tab.Lookup(0x0a0000000000 + 77) },
		"Learn known": func() { now += 2 * s1; tab.Learn(0x020000000000+77, 77%8, now) },
	} {
		if n := testing.AllocsPerRun(1000, f); n != 0 {
			t.Errorf("%s: %v allocs/op", name, n)
		}
	}
}

func TestLearnResultString(t *testing.T) {
	var got []string
	for r := Known; r <= Invalid+1; r++ {
		got = append(got, r.String())
	}
	want := "[known learned moved limit-exceeded static-conflict invalid LearnResult(6)]"
	if fmt.Sprint(got) != want {
		t.Fatalf("%v, want %v", got, want)
	}
}

// TestUnlimitedPort: a port exempt from the MAC limit (a tunnel) learns past
// it while the others stay limited; the exemption ends with FlushPort, so a
// port that takes the index later is limited again.
func TestUnlimitedPort(t *testing.T) {
	tab := New(Config{MACLimit: 2})
	tab.SetUnlimited(3, true)
	for i := range 10 {
		wantLearn(t, tab, mustMAC("06:00:00:00:01:00")+uint64(i), 3, t0, Learned)
	}
	wantLearn(t, tab, macA, 1, t0, Learned)
	wantLearn(t, tab, macB, 1, t0, Learned)
	wantLearn(t, tab, macC, 1, t0, LimitExceeded)
	tab.FlushPort(3)
	wantLearn(t, tab, macC, 3, t0, Learned)
	wantLearn(t, tab, macD, 3, t0, Learned)
	wantLearn(t, tab, mustMAC("06:00:00:00:02:00"), 3, t0, LimitExceeded)
	tab.SetUnlimited(3, true)
	tab.SetUnlimited(3, false)
	wantLearn(t, tab, mustMAC("06:00:00:00:02:00"), 3, t0, LimitExceeded)
}
