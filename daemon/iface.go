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
	if err := h.LinkSetUp(link); err != nil {
		return fmt.Errorf("cannot bring %s up: %v", c.ifname, err)
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
