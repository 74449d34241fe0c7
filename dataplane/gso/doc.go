// Package gso does in software what a device with TSO and checksum offload
// would do in hardware, for the egresses that cannot take a GSO super-frame
// or a CHECKSUM_PARTIAL frame as it came (ARCHITECTURE.md, Speed 1 and 5):
// the router when a super-frame's segments would not fit the next hop
// (dataplane/offload.go), a capture that writes what a wire would carry,
// the AF_XDP port, and the VXLAN port, which encapsulates plain frames
// only.
//
// One implementation serves them all: Parse reads a TCPv4 or TCPv6
// super-frame once, Cut builds segment k of it into a caller's buffer with
// headers fixed up (IP length, ID and header checksum, TCP sequence, flags)
// and the TCP checksum either complete or left as the pseudo-header sum for
// a device to finish; Checksum completes a partial checksum in place.
// Nothing here allocates, keeps state or talks to the OS; the package
// depends on header only.
package gso
