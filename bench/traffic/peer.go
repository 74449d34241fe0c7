package traffic

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"
)

// PeerServe answers every TCP connection on port with the address the
// connection came from, one line, and closes it. It is how the harness
// checks what a server behind NAT sees: after masquerade ext must see the
// uplink address, after a published port's DNAT c1 must see the client's
// own (Docker keeps it; so does CLI.md's publish). It listens on 0.0.0.0,
// or on [::] when v6.
func PeerServe(port int, v6 bool, ready func()) error {
	network, addr := "tcp4", fmt.Sprintf("0.0.0.0:%d", port)
	if v6 {
		network, addr = "tcp6", fmt.Sprintf("[::]:%d", port)
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	ready()
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go func(c net.Conn) {
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
			if err != nil {
				return
			}
			fmt.Fprintf(c, "%s\n", ap.Addr().Unmap())
		}(c)
	}
}

// PeerAsk connects to a PeerServe and returns the source address the
// server saw. dst is IPv4 or IPv6.
func PeerAsk(dst netip.AddrPort, timeout time.Duration) (netip.Addr, error) {
	c, err := net.DialTimeout("tcp", dst.String(), timeout)
	if err != nil {
		return netip.Addr{}, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return netip.Addr{}, fmt.Errorf("reading the peer address from %s: %w", dst, err)
	}
	return ParsePeerLine(line)
}

// ParsePeerLine reads PeerServe's answer.
func ParsePeerLine(line string) (netip.Addr, error) {
	a, err := netip.ParseAddr(strings.TrimSpace(line))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("peer server answered %q, not an address", strings.TrimSpace(line))
	}
	return a, nil
}
