package daemon

import (
	"testing"

	"vswitch/internal/testns"
)

// The DNS tests run a fake upstream resolver on loopback: in a network
// namespace of the tests' own, not the root one.
func TestMain(m *testing.M) { testns.Main(m) }
