package daemon

import (
	"fmt"
	"net/netip"
)

// lastAddr is the subnet's broadcast address.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v |= uint32(1)<<(32-p.Bits()) - 1
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// checkHostAddr says whether ip may be given to a host of subnet: inside it,
// and neither its network nor its broadcast address.
func checkHostAddr(subnet netip.Prefix, ip netip.Addr) error {
	if !ip.Is4() || !subnet.Contains(ip) {
		return fmt.Errorf("address %s is outside the network's subnet %s: pick one inside it or use --ip auto", ip, subnet)
	}
	if subnet.Bits() < 31 && (ip == subnet.Masked().Addr() || ip == lastAddr(subnet)) {
		return fmt.Errorf("address %s is the subnet's network or broadcast address: pick a host address", ip)
	}
	return nil
}

// nextFree returns the lowest host address of subnet not in used.
func nextFree(subnet netip.Prefix, used map[netip.Addr]bool) (netip.Addr, error) {
	last := lastAddr(subnet)
	for a := subnet.Masked().Addr().Next(); a.IsValid() && a.Less(last); a = a.Next() {
		if !used[a] {
			return a, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("subnet %s has no free address left: remove a port or use a bigger subnet", subnet)
}
