// Package report turns the samples a bench run collects into the figures
// BENCH.md asks for: medians, min and max per side, the ratio (≥ 1.0 means
// vswitchd is as good or better), and renders them as latest.json,
// latest.md and latest.png.
//
// It is pure: no root, no namespaces, no processes. Everything here is
// covered by unit tests; the harness package does the measuring.
//
//	samples (one per side, pair, scenario, metric)
//	   │  Aggregate
//	   ▼
//	rows (kernel/vswitch arrays, medians, ratio, status)
//	   ├─ JSON      → latest.json (BENCH.md shape plus extra keys)
//	   ├─ Markdown  → latest.md and stdout
//	   └─ Chart     → latest.png (ratio bars, 1.0 line)
//
// A failed measurement stays an error string and a feature vswitchd lacks
// stays "not supported yet"; neither ever becomes a number.
package report
