//go:build race

package fdb

// raceEnabled shortens the slowest tests under the race detector, which
// makes every atomic operation far dearer.
const raceEnabled = true
