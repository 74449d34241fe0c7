package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"vswitch/api"
)

// top: per-port rates from two `stats` readings an interval apart. On a
// terminal the screen is redrawn in place (ANSI clear) and q quits (the
// terminal in non-canonical mode, no echo, restored on exit); otherwise
// each refresh is printed after the previous one, without escape codes, so
// that a script or a log gets plain text.
func newTopCmd(a *app) *cobra.Command {
	var (
		interval time.Duration
		count    int
	)
	cmd := &cobra.Command{
		Use:   "top [--interval D] [--count N]",
		Short: "Live per-port rates: packets/s, bytes/s, drops/s and the main drop reason (q or Ctrl-C quits)",
		Args:  positional(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if interval < 10*time.Millisecond {
				return usageErrorf(cmd, "invalid --interval %v: give at least 10ms, e.g. --interval 2s", interval)
			}
			if count < 0 {
				return usageErrorf(cmd, "invalid --count %d: give a number of refreshes, 0 for no limit", count)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return a.top(ctx, interval, count)
		},
	}
	cmd.Flags().DurationVar(&interval, "interval", time.Second, "time between refreshes")
	cmd.Flags().IntVar(&count, "count", 0, "stop after N refreshes (0: until q or Ctrl-C)")
	return cmd
}

// isTerminal says whether f is a terminal (TCGETS succeeds).
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// rawKeys puts the terminal on stdin in non-canonical mode without echo (ISIG
// kept: Ctrl-C is still a signal) and reports when q is typed; restore
// gives the terminal back as it was.
func rawKeys(in *os.File) (quit <-chan struct{}, restore func(), err error) {
	fd := int(in.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, func() {}, err
	}
	raw := *old
	raw.Lflag &^= unix.ICANON | unix.ECHO // OPOST stays: \n still moves to the line start
	raw.Cc[unix.VMIN], raw.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &raw); err != nil {
		return nil, func() {}, err
	}
	q := make(chan struct{})
	go func() {
		b := make([]byte, 16)
		for {
			n, err := in.Read(b)
			if err != nil {
				return
			}
			if strings.ContainsAny(string(b[:n]), "qQ") {
				close(q)
				return
			}
		}
	}()
	return q, func() { unix.IoctlSetTermios(fd, unix.TCSETS, old) }, nil
}

func (a *app) top(ctx context.Context, interval time.Duration, count int) error {
	tty := false
	if f, ok := a.stdout.(*os.File); ok && isTerminal(f) {
		tty = true
	}
	var quit <-chan struct{}
	if tty && isTerminal(os.Stdin) {
		q, restore, err := rawKeys(os.Stdin)
		if err == nil {
			defer restore()
			quit = q
		}
	}
	prev, err := a.readStats()
	if err != nil {
		return err
	}
	prevAt := time.Now()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for n := 0; count == 0 || n < count; n++ {
		select {
		case <-ctx.Done():
			return nil
		case <-quit:
			return nil
		case <-tick.C:
		}
		cur, err := a.readStats()
		if err != nil {
			return err
		}
		now := time.Now()
		rows := topRows(prev, cur, now.Sub(prevAt))
		var b strings.Builder
		if tty {
			b.WriteString("\x1b[H\x1b[2J") // home, clear screen
		} else if n > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "vswitchd %s, every %v, %d ports", now.Format("15:04:05"), interval, len(rows))
		if quit != nil {
			b.WriteString(" (q quits)")
		}
		b.WriteString("\n")
		if err := printTop(&b, rows); err != nil {
			return err
		}
		if _, err := io.WriteString(a.stdout, b.String()); err != nil {
			return err
		}
		prev, prevAt = cur, now
	}
	return nil
}

func (a *app) readStats() (api.Stats, error) {
	var s api.Stats
	err := a.do(http.MethodGet, "/stats", nil, &s)
	return s, err
}

type topRow struct {
	name, network                  string
	rxPPS, rxBPS, txPPS, txBPS, dr float64
	reason                         string // the reason with most drops in the interval
}

// topRows computes each port's rates between two readings, busiest first.
// A port that appeared (or was re-added, its counters lower) in between
// is shown from zero.
func topRows(prev, cur api.Stats, dt time.Duration) []topRow {
	secs := dt.Seconds()
	if secs <= 0 {
		secs = 1
	}
	old := map[string]api.PortStats{}
	for _, p := range prev.Ports {
		old[p.Name] = p
	}
	d := func(now, before uint64) float64 {
		if now < before {
			return float64(now)
		}
		return float64(now - before)
	}
	var rows []topRow
	for _, p := range cur.Ports {
		o := old[p.Name]
		r := topRow{name: p.Name, network: p.Network,
			rxPPS: d(p.RxPackets, o.RxPackets) / secs, rxBPS: d(p.RxBytes, o.RxBytes) / secs,
			txPPS: d(p.TxPackets, o.TxPackets) / secs, txBPS: d(p.TxBytes, o.TxBytes) / secs}
		var most float64
		for reason, n := range p.Drops {
			dn := d(n, o.Drops[reason])
			r.dr += dn
			if dn > most || (dn == most && dn > 0 && reason < r.reason) {
				most, r.reason = dn, reason
			}
		}
		r.dr /= secs
		rows = append(rows, r)
	}
	slices.SortFunc(rows, func(x, y topRow) int {
		return cmp.Or(cmp.Compare(y.rxPPS+y.txPPS+y.dr, x.rxPPS+x.txPPS+x.dr), strings.Compare(x.name, y.name))
	})
	return rows
}

func printTop(w io.Writer, rows []topRow) error {
	t := newTable(w, "PORT", "NETWORK", "RX-PKT/S", "RX-BYTES/S", "TX-PKT/S", "TX-BYTES/S", "DROPS/S", "TOP-DROP")
	for _, r := range rows {
		reason := r.reason
		if reason == "" {
			reason = "-"
		}
		t.row(r.name, cmp.Or(r.network, "-"), siRate(r.rxPPS), siBytes(r.rxBPS), siRate(r.txPPS), siBytes(r.txBPS), siRate(r.dr), reason)
	}
	return t.flush()
}

// siRate prints a rate with k/M/G suffixes: 0, 12, 1.2k, 3.4M.
func siRate(v float64) string {
	switch {
	case v >= 1e9:
		return fmt.Sprintf("%.1fG", v/1e9)
	case v >= 1e6:
		return fmt.Sprintf("%.1fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	case v == 0:
		return "0"
	case v < 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.0f", v)
}

// siBytes prints a byte rate: 0, 512B, 1.2kB, 3.4MB, 1.1GB (per second).
func siBytes(v float64) string {
	if v == 0 {
		return "0"
	}
	if v < 1e3 {
		return fmt.Sprintf("%.0fB", v)
	}
	return siRate(v) + "B"
}
