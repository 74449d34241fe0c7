package fdb

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
)

// benchTable is a table of n MACs in the layout a container host produces
// (02:42:ac:11:xx:xx counting up) and the MACs in a shuffled order, so
// lookups walk the table the way traffic from many stations does. Tables are
// built once per size: the 1M one takes a while.
type benchTable struct {
	tab  *Table
	macs []uint64
}

var (
	benchMu     sync.Mutex
	benchTables = map[int]*benchTable{}
)

func getBenchTable(b *testing.B, n int) *benchTable {
	benchMu.Lock()
	defer benchMu.Unlock()
	if bt := benchTables[n]; bt != nil {
		return bt
	}
	tab := New(Config{})
	macs := make([]uint64, n)
	for i := range macs {
		macs[i] = 0x0242ac000000 + uint64(i)
		if tab.Learn(macs[i], uint16(i%MaxPort), t0) != Learned {
			b.Fatal("not learned")
		}
	}
	rand.New(rand.NewPCG(1, 1)).Shuffle(n, func(i, j int) { macs[i], macs[j] = macs[j], macs[i] })
	bt := &benchTable{tab, macs}
	benchTables[n] = bt
	return bt
}

var sizes = []struct {
	name string
	n    int
}{{"1k", 1 << 10}, {"1M", 1 << 20}}

var sinkPort uint16

func BenchmarkLookup(b *testing.B) {
	for _, sz := range sizes {
		b.Run(sz.name, func(b *testing.B) {
			bt := getBenchTable(b, sz.n)
			mask := len(bt.macs) - 1
			b.ReportAllocs()
			b.ResetTimer()
			var p uint16
			for i := 0; i < b.N; i++ {
				q, ok := bt.tab.Lookup(bt.macs[i&mask])
				if !ok {
					b.Fatal("miss")
				}
				p += q
			}
			sinkPort = p
			b.ReportMetric(float64(bt.tab.memBytes())/float64(bt.tab.Len()), "B/entry")
		})
	}
}

func BenchmarkLookupMiss(b *testing.B) {
	bt := getBenchTable(b, 1<<10)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, ok := bt.tab.Lookup(0x0a0000000000 + uint64(i)); ok {
			b.Fatal("hit")
		}
	}
}

// BenchmarkLookupParallel is several workers reading one table at once, the
// dataplane's case; with GOMAXPROCS 2 it shows that readers do not contend.
func BenchmarkLookupParallel(b *testing.B) {
	for _, sz := range sizes {
		b.Run(sz.name, func(b *testing.B) {
			bt := getBenchTable(b, sz.n)
			mask := len(bt.macs) - 1
			var seed atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := int(seed.Add(1)) * 7919
				for pb.Next() {
					if _, ok := bt.tab.Lookup(bt.macs[i&mask]); !ok {
						b.Error("miss")
						return
					}
					i++
				}
			})
		})
	}
}

// BenchmarkLearnKnown is the refresh path taken for nearly every frame.
// "same-time" is frames within the refresh slack (no store); "new-time"
// stores the time on every call, the worst case.
func BenchmarkLearnKnown(b *testing.B) {
	for _, sz := range sizes {
		bt := getBenchTable(b, sz.n)
		mask := len(bt.macs) - 1
		for _, step := range []struct {
			name string
			dt   int64
		}{{"same-time", 0}, {"new-time", 2 * s1}} {
			b.Run(fmt.Sprintf("%s/%s", sz.name, step.name), func(b *testing.B) {
				b.ReportAllocs()
				now := t0 + 1000*s1
				for i := 0; i < b.N; i++ {
					now += step.dt
					mac := bt.macs[i&mask]
					if bt.tab.Learn(mac, uint16((mac-0x0242ac000000)%MaxPort), now) != Known {
						b.Fatal("not known")
					}
				}
			})
		}
	}
}

// BenchmarkLearnNew inserts MACs never seen before into a growing table: the
// slow path, under the lock, with the rebuilds amortised in.
func BenchmarkLearnNew(b *testing.B) {
	b.ReportAllocs()
	tab := New(Config{})
	for i := 0; i < b.N; i++ {
		if tab.Learn(0x020000000000+uint64(i)*0x10001, uint16(i%64), t0) != Learned {
			b.Fatal("not learned")
		}
	}
}

// BenchmarkLookupWhileLearning reads in parallel while one goroutine keeps
// learning new MACs and aging them out, so the readers run across rebuilds.
func BenchmarkLookupWhileLearning(b *testing.B) {
	bt := getBenchTable(b, 1<<10)
	tab := New(Config{})
	for _, mac := range bt.macs {
		tab.Learn(mac, 1, t0)
		tab.AddStatic(mac, 1)
	}
	mask := len(bt.macs) - 1
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		now := t0
		for i := uint64(0); ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			tab.Learn(0x0a0000000000+i, 2, now)
			if i%4096 == 0 {
				now += 400 * s1
				tab.Age(now)
			}
		}
	}()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, ok := tab.Lookup(bt.macs[i&mask]); !ok {
				b.Error("static entry missed")
				return
			}
			i++
		}
	})
	b.StopTimer()
	close(stop)
	<-done
}

// BenchmarkAge is one aging pass that removes nothing: how long the timer
// holds the writers' lock (learning of new MACs waits; lookups do not).
func BenchmarkAge(b *testing.B) {
	for _, sz := range sizes {
		b.Run(sz.name, func(b *testing.B) {
			bt := getBenchTable(b, sz.n)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if bt.tab.Age(t0) != 0 {
					b.Fatal("aged")
				}
			}
		})
	}
}
