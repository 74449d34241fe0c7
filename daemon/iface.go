package daemon

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"vswitch/internal/netns"
)

// The daemon's interface setup inside container namespaces, through a
// netlink handle bound to the namespace (never the root one).

// freeIfname returns "eth0", or the next free ethN, in the namespace.
func freeIfname(nsPath string) (string, error) {
	h, err := netns.Handle(nsPath)
	if err != nil {
		return "", err
	}
	defer h.Close()
	links, err := h.LinkList()
	if err != nil {
		return "", fmt.Errorf("cannot list interfaces in %s: %v", nsPath, err)
	}
	taken := map[string]bool{}
	for _, l := range links {
		taken[l.Attrs().Name] = true
	}
	for i := 0; i < 1000; i++ {
		n := fmt.Sprintf("eth%d", i)
		if !taken[n] {
			return n, nil
		}
	}
	return "", errors.New("no free ethN name in the namespace: pass --ifname")
}

// linkExists reports whether the namespace has an interface called name.
func linkExists(nsPath, name string) (bool, error) {
	h, err := netns.Handle(nsPath)
	if err != nil {
		return false, err
	}
	defer h.Close()
	_, err = h.LinkByName(name)
	if err == nil {
		return true, nil
	}
	var nf netlink.LinkNotFoundError
	if errors.As(err, &nf) {
		return false, nil
	}
	return false, err
}

// tapConfig is what a TAP port gets inside its namespace.
type tapConfig struct {
	ifname  string
	mac     net.HardwareAddr
	ip      netip.Prefix
	mtu     int
	gateway netip.Addr // invalid: no default route
	// IPv6 (ipv6.go): the address (invalid: none) and the next hop of the
	// default route, the gateway's link-local address (invalid: none).
	ip6      netip.Prefix
	gateway6 netip.Addr
}

// configureTAP gives the TAP its MAC, MTU and address, brings it and lo up,
// and adds the default route. Every step is idempotent, so a restart that
// finds the persistent TAP already configured changes nothing.
func configureTAP(nsPath string, c tapConfig) error {
	h, err := netns.Handle(nsPath)
	if err != nil {
		return err
	}
	defer h.Close()
	link, err := h.LinkByName(c.ifname)
	if err != nil {
		return fmt.Errorf("tap %s not found in %s after creating it: %v", c.ifname, nsPath, err)
	}
	if lo, err := h.LinkByName("lo"); err == nil {
		if err := h.LinkSetUp(lo); err != nil {
			return fmt.Errorf("cannot bring lo up in %s: %v", nsPath, err)
		}
	}
	if !strings.EqualFold(link.Attrs().HardwareAddr.String(), c.mac.String()) {
		if err := h.LinkSetHardwareAddr(link, c.mac); err != nil {
			return fmt.Errorf("cannot set MAC %s on %s: %v", c.mac, c.ifname, err)
		}
	}
	if link.Attrs().MTU != c.mtu {
		if err := h.LinkSetMTU(link, c.mtu); err != nil {
			return fmt.Errorf("cannot set MTU %d on %s: %v", c.mtu, c.ifname, err)
		}
	}
	if c.ip.IsValid() {
		addr := &netlink.Addr{IPNet: &net.IPNet{IP: c.ip.Addr().AsSlice(), Mask: net.CIDRMask(c.ip.Bits(), 32)}}
		if err := h.AddrAdd(link, addr); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("cannot add address %s to %s: %v", c.ip, c.ifname, err)
		}
	}
	if c.ip6.IsValid() {
		if err := configureIPv6(h, nsPath, link, c); err != nil {
			return err
		}
	}
	if err := h.LinkSetUp(link); err != nil {
		return fmt.Errorf("cannot bring %s up: %v", c.ifname, err)
	}
	if c.gateway6.IsValid() {
		r := &netlink.Route{LinkIndex: link.Attrs().Index, Gw: c.gateway6.AsSlice(),
			Dst: &net.IPNet{IP: net.IPv6zero, Mask: net.CIDRMask(0, 128)}}
		if err := h.RouteReplace(r); err != nil {
			return fmt.Errorf("cannot add IPv6 default route via %s%%%s in %s: %v", c.gateway6, c.ifname, nsPath, err)
		}
	}
	if c.gateway.IsValid() {
		r := &netlink.Route{LinkIndex: link.Attrs().Index, Gw: c.gateway.AsSlice(),
			Dst: &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}}
		if err := h.RouteReplace(r); err != nil {
			return fmt.Errorf("cannot add default route via %s in %s: %v", c.gateway, nsPath, err)
		}
	}
	return nil
}

// configureIPv6 settles what makes the TAP's IPv6 address usable at once,
// before the link comes up: no duplicate address detection (accept_dad=0
// on the TAP, which covers its link-local address too, and the global
// address added with nodad: vswitchd's IPAM already made it unique), and
// without a default route no default router taken from the gateway's
// advertisements either (accept_ra_defrtr=0). The link-local address is
// fe80:: and the EUI-64 of the MAC (addr_gen_mode=0), whatever the
// namespace's default: port security allows that one (dataplane/guard6.go).
// The sysctls are the container namespace's own (setIPv6Sysctls).
func configureIPv6(h *netlink.Handle, nsPath string, link netlink.Link, c tapConfig) error {
	kv := map[string]string{"disable_ipv6": "0", "accept_dad": "0", "addr_gen_mode": "0"}
	if !c.gateway6.IsValid() {
		kv["accept_ra_defrtr"] = "0"
	}
	if err := setIPv6Sysctls(nsPath, c.ifname, kv); err != nil {
		return err
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: c.ip6.Addr().AsSlice(), Mask: net.CIDRMask(c.ip6.Bits(), 128)},
		Flags: unix.IFA_F_NODAD}
	if err := h.AddrAdd(link, addr); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("cannot add address %s to %s: %v", c.ip6, c.ifname, err)
	}
	return nil
}

// linkUp brings an existing interface up (for attached ports).
func linkUp(nsPath, name string) error {
	h, err := netns.Handle(nsPath)
	if err != nil {
		return err
	}
	defer h.Close()
	l, err := h.LinkByName(name)
	if err != nil {
		return fmt.Errorf("no interface %q in %s: %v", name, nsPath, err)
	}
	return h.LinkSetUp(l)
}
