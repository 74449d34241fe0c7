package daemon

import (
	"fmt"
	"net/netip"

	"vswitch/routing"
)

// checkHostAddr says whether ip may be given to a host of subnet: inside it,
// and neither its network nor its broadcast address.
func checkHostAddr(subnet netip.Prefix, ip netip.Addr) error {
	if !ip.Is4() || !subnet.Contains(ip) {
		return fmt.Errorf("address %s is outside the network's subnet %s: pick one inside it or use --ip auto", ip, subnet)
	}
	if subnet.Bits() < 31 && (ip == subnet.Masked().Addr() || ip == routing.LastAddr(subnet)) {
		return fmt.Errorf("address %s is the subnet's network or broadcast address: pick a host address", ip)
	}
	return nil
}

// nextFree returns the lowest host address of subnet not in used.
func nextFree(subnet netip.Prefix, used map[netip.Addr]bool) (netip.Addr, error) {
	last := routing.LastAddr(subnet)
	for a := subnet.Masked().Addr().Next(); a.IsValid() && a.Less(last); a = a.Next() {
		if !used[a] {
			return a, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("subnet %s has no free address left: remove a port or use a bigger subnet", subnet)
}
