// Package header gives zero-copy views over the headers of a frame:
// Ethernet, ARP, IPv4, IPv6, ICMPv4, UDP, TCP, VXLAN and virtio_net_hdr, plus the
// Internet checksum and its incremental updates (RFC 1071, RFC 1624).
//
// A view is a named byte slice over the frame's own memory, in the style of
// gVisor's pkg/tcpip/header:
//
//	buf:  | virtio_net_hdr | Ethernet | IPv4 ........ | TCP ........ | payload |
//	        VirtioNetHdr     Ethernet   IPv4(eth.Payload())
//	                                                   TCP(ip.Payload())
//
// Parsing is a conversion plus a length check (Valid); reading a field
// decodes it in place and writing a field stores it in place. Nothing here
// allocates or copies a frame, so the per-packet pipeline can stay at zero
// allocations (ARCHITECTURE.md, "Speed", point 4). Addresses come back as
// netip.Addr and MAC values: comparable, usable as map keys, no heap.
//
// Contract: call Valid (or check the length yourself) before any other
// method. Valid checks exactly what the accessors index, so a view that passed
// it never panics in an accessor; the fuzz targets hold that promise. A view
// that did not pass it may panic, as an out-of-range slice index would.
//
// What the package is not: it does not decide what to do with a frame
// (that is the dataplane's verdict), it keeps no state, it does not follow
// IPv4 options or IPv6 extension headers, it does not reassemble, fragment
// or segment (package dataplane/gso segments), and it does not verify L4
// checksums on its own. It only makes
// the bytes of a frame easy and cheap to read and to rewrite.
package header
