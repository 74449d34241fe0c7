//go:build !race

package fdb

const raceEnabled = false
