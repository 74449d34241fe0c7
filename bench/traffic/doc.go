// Package traffic holds the small load generators the bench harness runs
// inside its namespaces (`ip netns exec NS vsbench SUBCOMMAND`):
//
//   - UDP: a sendmmsg(2) generator of 64-byte frames (18-byte payload:
//     14 Ethernet + 20 IPv4 + 8 UDP + 18 = 60 bytes on a veth or TAP, 64
//     with the FCS a wire would add), and a sink that reads with
//     recvmmsg(2) and counts what arrives at its interface. iperf3 cannot
//     offer enough small packets on a 2-core machine; this offers more than
//     either path carries, so the sink measures the path.
//   - TCP connection rate: a client that opens a connection, exchanges one
//     byte each way and closes with RST (SO_LINGER 0), so TIME_WAIT cannot
//     exhaust ports, against a server accept loop that does the same — the
//     TCP_CRR pattern of netperf.
//
// Both talk to the kernel with raw syscalls on blocking sockets, one OS
// thread per worker: the generators must cost less than what they measure.
// The package does not decide what is measured; the harness does.
package traffic
