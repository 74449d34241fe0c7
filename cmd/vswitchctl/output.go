package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"

	"vswitch/api"
)

// printJSON writes v indented, as -o json and `network inspect` print.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// table prints aligned columns, like docker and kubectl: a header row, then
// one row per object; an empty cell prints as "-" so columns stay readable.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, header ...any) *table {
	t := &table{tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)}
	t.row(header...)
	return t
}

func (t *table) row(cells ...any) {
	for i, c := range cells {
		if i > 0 {
			fmt.Fprint(t.tw, "\t")
		}
		if s, ok := c.(string); ok && s == "" {
			c = "-"
		}
		fmt.Fprint(t.tw, c)
	}
	fmt.Fprintln(t.tw)
}

func (t *table) flush() error { return t.tw.Flush() }

// printSparse prints a table whose optional columns (IPv6 addresses, a
// policer's rate) appear only when some row has a value in them, so that a
// setup that uses neither reads as it did before they existed.
func printSparse(w io.Writer, header []string, optional []string, rows [][]any) error {
	keep := make([]bool, len(header))
	for i, h := range header {
		keep[i] = !slices.Contains(optional, h)
		for _, r := range rows {
			if s, ok := r[i].(string); !ok || (s != "" && s != "-") {
				keep[i] = true
			}
		}
	}
	pick := func(cells []any) []any {
		var out []any
		for i, c := range cells {
			if keep[i] {
				out = append(out, c)
			}
		}
		return out
	}
	hs := make([]any, len(header))
	for i, h := range header {
		hs[i] = h
	}
	t := newTable(w, pick(hs)...)
	for _, r := range rows {
		t.row(pick(r)...)
	}
	return t.flush()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// nonNil makes a nil slice empty, so that JSON says [] and never null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// nonNilMap is nonNil for maps: {} rather than null.
func nonNilMap[K comparable, V any](m map[K]V) map[K]V {
	if m == nil {
		return map[K]V{}
	}
	return m
}

// cleanNetwork gives a network the arrays CLI.md promises even when the
// daemon sent null for them.
func cleanNetwork(n api.Network) api.Network {
	n.Ports = nonNil(n.Ports)
	n.Connected = nonNil(n.Connected)
	return n
}
