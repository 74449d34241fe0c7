package traffic

import (
	"testing"

	"vswitch/internal/testns"
)

// TestPeerServeAsk talks over loopback: in a network namespace of the
// tests' own, not the root one.
func TestMain(m *testing.M) { testns.Main(m) }
