// Package e2e holds the namespace tier of the tests (shared/design/TESTING.md):
// vswitchd and vswitchctl, built from this tree, driven exactly as a user would
// drive them, with real TAP and AF_PACKET ports in network namespaces the tests
// create and delete themselves. The root network namespace is never changed.
//
// The tests need root and iproute2's ip; without them they skip and say why.
// Run them with:
//
//	go test -count=1 -v ./test/e2e/
//
// VSWITCH_E2E_BIN=DIR uses the binaries in DIR (e.g. bin/ after make build)
// instead of building them from this tree.
package e2e
