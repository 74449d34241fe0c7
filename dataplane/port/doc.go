// Package port is the dataplane's boundary with the OS: every way a frame
// enters or leaves vswitchd implements Port.
//
//	TAP       tap device created inside a container's namespace (IFF_VNET_HDR,
//	          TSO/CSUM offloads, persistent across restarts)
//	AFPacket  raw socket on an existing interface (PACKET_VNET_HDR,
//	          recvmmsg/sendmmsg batches, promiscuous)
//	AFPacketRing  AFPacket reading through a TPACKET_V2 or V3 receive
//	          ring (mmap, no system call per batch; vswitchd --afpacket-ring)
//	XDP       AF_XDP socket on a veth end (copy mode, UMEM rings, a small
//	          redirect program attached to the device; no GSO arrives)
//	VXLAN     tunnel port (RFC 7348): a UDP socket in the underlay namespace,
//	          recvmmsg/sendmmsg batches, its own MAC -> remote VTEP table,
//	          head-end replication; segments GSO frames before encapsulating
//	Chan      in-memory port for tests and benchmarks
//
// Every buffer carries a virtio_net_hdr before the Ethernet frame, so GSO
// super-frames and partial checksums pass from port to port untouched: the
// kernel on the far side segments or finishes them only if its device needs
// it. Ports neither parse nor decide; that is the dataplane's job.
package port
