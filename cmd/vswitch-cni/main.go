// Command vswitch-cni is a CNI plugin (spec 1.1) that plugs containers into
// vswitchd networks. It holds no state of its own: every command asks the
// daemon over its unix socket, and the port a container gets is named after
// the container and interface (portName), so DEL, CHECK and GC find it again
// from what the runtime passes. docs/cni.md says how to use it.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"

	"vswitch/api"
)

// netConf is the network configuration the runtime passes on stdin: the
// standard keys plus ours.
type netConf struct {
	types.PluginConf
	Network string `json:"network"` // the vswitchd network
	Socket  string `json:"socket"`  // the daemon's socket; api.DefaultSocket when empty
}

// network is GET /v1/networks/{name} as the plugin reads it. DNS is `true`
// when the daemon says it serves names at 127.0.0.11 on the network; a
// daemon that does not say so gets no nameserver in the result. It is kept
// raw so that a daemon describing DNS otherwise still parses.
type network struct {
	api.Network
	DNS json.RawMessage `json:"dns"`
}

func (n *network) servesDNS() bool { return string(n.DNS) == "true" }

// dnsServer is where vswitchd answers DNS inside every namespace (as Docker).
const dnsServer = "127.0.0.11"

// portPrefix marks the ports this plugin made; GC removes only those.
const portPrefix = "cni-"

func main() {
	skel.PluginMainFuncs(skel.CNIFuncs{
		Add:    cmdAdd,
		Del:    cmdDel,
		Check:  cmdCheck,
		Status: cmdStatus,
		GC:     cmdGC,
	}, version.PluginSupports("0.4.0", "1.0.0", "1.1.0"), "vswitch-cni: plugs containers into vswitchd networks")
}

// portName is the port of one container's interface: the container ID's
// first 12 characters (as docker ps shows them) and the interface name, so
// one container may have several interfaces on vswitchd networks.
func portName(containerID, ifname string) string {
	id := containerID
	if len(id) > 12 {
		id = id[:12]
	}
	return portPrefix + id + "-" + ifname
}

func parseConf(stdin []byte) (*netConf, error) {
	c := &netConf{}
	if err := json.Unmarshal(stdin, c); err != nil {
		return nil, types.NewError(types.ErrInvalidNetworkConfig,
			fmt.Sprintf("the network config is not valid JSON: %v", err), "")
	}
	if c.Network == "" {
		return nil, types.NewError(types.ErrInvalidNetworkConfig,
			`the network config has no "network": set it to the vswitchd network to join (vswitchctl network ls)`, "")
	}
	if c.Socket == "" {
		c.Socket = api.DefaultSocket
	}
	return c, nil
}

// daemonError turns a failed request into a CNI error. The daemon's refusal
// becomes code 999 with its own message; not reaching it at all is code 11
// (try again later): the runtime retries, and the daemon may be starting.
func daemonError(c *netConf, doing string, err error) *types.Error {
	var se *api.StatusError
	if errors.As(err, &se) {
		return types.NewError(types.ErrInternal, fmt.Sprintf("vswitchd refused to %s: %s", doing, se.Message), "")
	}
	return types.NewError(types.ErrTryAgainLater,
		fmt.Sprintf(`cannot reach vswitchd at %s to %s: is it running? set "socket" in the network config if it listens elsewhere`, c.Socket, doing),
		err.Error())
}

func isNotFound(err error) bool {
	var se *api.StatusError
	return errors.As(err, &se) && se.Status == 404
}

// getNetwork fetches the config's network; its absence is a config error.
func getNetwork(c *netConf, cl *api.Client) (*network, error) {
	var n network
	if err := cl.Do("GET", "/networks/"+url.PathEscape(c.Network), nil, &n); err != nil {
		if isNotFound(err) {
			return nil, types.NewError(types.ErrInvalidNetworkConfig,
				fmt.Sprintf(`vswitchd has no network %q: create it with 'vswitchctl network create %s --subnet CIDR' or fix "network" in the config`, c.Network, c.Network), "")
		}
		return nil, daemonError(c, "look up network "+c.Network, err)
	}
	return &n, nil
}

// findPort returns the port named name on the config's network, nil if none.
func findPort(c *netConf, cl *api.Client, name string) (*api.Port, error) {
	var ports []api.Port
	if err := cl.Do("GET", "/ports?network="+url.QueryEscape(c.Network), nil, &ports); err != nil {
		if isNotFound(err) {
			return nil, nil // the network is gone, and its ports with it
		}
		return nil, daemonError(c, "list the ports of network "+c.Network, err)
	}
	for i := range ports {
		if ports[i].Name == name {
			return &ports[i], nil
		}
	}
	return nil, nil
}

// cmdAdd asks the daemon for a TAP named CNI_IFNAME inside CNI_NETNS; the
// daemon addresses it (IPAM of the network) and sets its default route.
func cmdAdd(args *skel.CmdArgs) error {
	c, err := parseConf(args.StdinData)
	if err != nil {
		return err
	}
	cl := api.NewClient(c.Socket)
	n, err := getNetwork(c, cl)
	if err != nil {
		return err
	}
	// The runtime writes the container's resolv.conf from the Result's DNS:
	// the daemon must not write one of its own under /etc/netns.
	var p api.Port
	req := api.PortAdd{Network: c.Network, Netns: args.Netns, Name: portName(args.ContainerID, args.IfName),
		Ifname: args.IfName, IP: "auto", NoResolvConf: true}
	if err := cl.Do("POST", "/ports", req, &p); err != nil {
		return daemonError(c, "add port "+req.Name+" in "+args.Netns, err)
	}
	res, err := result(c, n, p, args.Netns)
	if err != nil {
		// The port works but cannot be described: take it back so a retry
		// starts clean.
		_ = cl.Do("DELETE", "/ports/"+url.PathEscape(p.Name), nil, nil)
		return err
	}
	return types.PrintResult(res, c.CNIVersion)
}

// result describes port p as CNI's Result.
func result(c *netConf, n *network, p api.Port, netnsPath string) (*types100.Result, error) {
	pfx, err := netip.ParsePrefix(p.IP)
	if err != nil {
		return nil, types.NewError(types.ErrInternal, fmt.Sprintf("vswitchd gave port %s the address %q, which is not a CIDR", p.Name, p.IP), "")
	}
	gw := net.ParseIP(n.Gateway)
	idx := 0
	res := &types100.Result{
		CNIVersion: types100.ImplementedSpecVersion,
		Interfaces: []*types100.Interface{{Name: p.Ifname, Mac: p.MAC, Mtu: p.MTU, Sandbox: netnsPath}},
		IPs: []*types100.IPConfig{{
			Interface: &idx,
			Address:   net.IPNet{IP: pfx.Addr().AsSlice(), Mask: net.CIDRMask(pfx.Bits(), 32)},
			Gateway:   gw,
		}},
	}
	// A dual-stack network's port has its IPv6 address too, the gateway's
	// global address as its gateway.
	var gw6LL net.IP
	if p.IP6 != "" {
		pfx6, err := netip.ParsePrefix(p.IP6)
		if err != nil || !pfx6.Addr().Is6() {
			return nil, types.NewError(types.ErrInternal, fmt.Sprintf("vswitchd gave port %s the IPv6 address %q, which is not an IPv6 CIDR", p.Name, p.IP6), "")
		}
		res.IPs = append(res.IPs, &types100.IPConfig{
			Interface: &idx,
			Address:   net.IPNet{IP: pfx6.Addr().AsSlice(), Mask: net.CIDRMask(pfx6.Bits(), 128)},
			Gateway:   net.ParseIP(n.Gateway6),
		})
		gw6LL = net.ParseIP(n.Gateway6LL)
	}
	// An internal network has no way out: no default route (the daemon sets
	// none either). The IPv6 one is via the gateway's link-local address,
	// as the daemon sets it and as router advertisements give it.
	if !n.Internal && gw != nil {
		res.Routes = []*types.Route{{Dst: net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}, GW: gw}}
	}
	if !n.Internal && gw6LL != nil {
		res.Routes = append(res.Routes, &types.Route{Dst: net.IPNet{IP: net.IPv6zero, Mask: net.CIDRMask(0, 128)}, GW: gw6LL})
	}
	if n.servesDNS() {
		res.DNS = types.DNS{Nameservers: []string{dnsServer}}
	}
	return res, nil
}

// cmdDel removes the container's port. Whatever is already gone (the port,
// the namespace, the network) counts as removed: DEL may be called again.
func cmdDel(args *skel.CmdArgs) error {
	c, err := parseConf(args.StdinData)
	if err != nil {
		return err
	}
	cl := api.NewClient(c.Socket)
	name := portName(args.ContainerID, args.IfName)
	p, err := findPort(c, cl, name)
	if err != nil || p == nil {
		return err
	}
	if err := cl.Do("DELETE", "/ports/"+url.PathEscape(name), nil, nil); err != nil && !isNotFound(err) {
		return daemonError(c, "remove port "+name, err)
	}
	return nil
}

// cmdCheck verifies that the container's port is still there, up, in its
// namespace, with the address the runtime was given (prevResult).
func cmdCheck(args *skel.CmdArgs) error {
	c, err := parseConf(args.StdinData)
	if err != nil {
		return err
	}
	if err := version.ParsePrevResult(&c.PluginConf); err != nil {
		return types.NewError(types.ErrDecodingFailure, fmt.Sprintf("cannot read prevResult: %v", err), "")
	}
	if c.PrevResult == nil {
		return types.NewError(types.ErrInvalidNetworkConfig, "CHECK needs prevResult in the network config (the result of ADD)", "")
	}
	prev, err := types100.NewResultFromResult(c.PrevResult)
	if err != nil {
		return types.NewError(types.ErrDecodingFailure, fmt.Sprintf("cannot read prevResult: %v", err), "")
	}
	cl := api.NewClient(c.Socket)
	name := portName(args.ContainerID, args.IfName)
	p, err := findPort(c, cl, name)
	if err != nil {
		return err
	}
	if p == nil {
		return types.NewError(types.ErrUnknownContainer,
			fmt.Sprintf("vswitchd has no port %s on network %s: the container's interface is gone (DEL and ADD it again)", name, c.Network), "")
	}
	if p.Netns != args.Netns || p.Ifname != args.IfName {
		return types.NewError(types.ErrInternal,
			fmt.Sprintf("port %s is interface %s in %s, not %s in %s", name, p.Ifname, p.Netns, args.IfName, args.Netns), "")
	}
	if p.State != "up" {
		return types.NewError(types.ErrInternal, fmt.Sprintf("port %s is down ('vswitchctl port ls' says why)", name), "")
	}
	for _, ip := range prev.IPs {
		if ip.Address.String() == p.IP {
			return nil
		}
	}
	var want []string
	for _, ip := range prev.IPs {
		want = append(want, ip.Address.String())
	}
	return types.NewError(types.ErrInternal,
		fmt.Sprintf("port %s has address %s, the runtime was given %s", name, p.IP, strings.Join(want, ", ")), "")
}

// cmdStatus says whether an ADD could work now: the daemon answers and has
// the network. Code 50 (plugin not available) otherwise.
func cmdStatus(args *skel.CmdArgs) error {
	c, err := parseConf(args.StdinData)
	if err != nil {
		return err
	}
	cl := api.NewClient(c.Socket)
	var v api.Version
	if err := cl.Do("GET", "/version", nil, &v); err != nil {
		return types.NewError(types.ErrPluginNotAvailable,
			fmt.Sprintf("vswitchd does not answer at %s: start it, or fix \"socket\" in the network config", c.Socket), err.Error())
	}
	if _, err := getNetwork(c, cl); err != nil {
		var te *types.Error
		if errors.As(err, &te) {
			return types.NewError(types.ErrPluginNotAvailable, te.Msg, te.Details)
		}
		return err
	}
	return nil
}

// cmdGC removes this network's cni-* ports whose attachment the runtime no
// longer lists as valid (cni.dev/valid-attachments).
func cmdGC(args *skel.CmdArgs) error {
	c, err := parseConf(args.StdinData)
	if err != nil {
		return err
	}
	valid := map[string]bool{}
	for _, a := range c.ValidAttachments {
		valid[portName(a.ContainerID, a.IfName)] = true
	}
	cl := api.NewClient(c.Socket)
	var ports []api.Port
	if err := cl.Do("GET", "/ports?network="+url.QueryEscape(c.Network), nil, &ports); err != nil {
		if isNotFound(err) {
			return nil
		}
		return daemonError(c, "list the ports of network "+c.Network, err)
	}
	var failed []string
	for _, p := range ports {
		if !strings.HasPrefix(p.Name, portPrefix) || valid[p.Name] {
			continue
		}
		if err := cl.Do("DELETE", "/ports/"+url.PathEscape(p.Name), nil, nil); err != nil && !isNotFound(err) {
			failed = append(failed, p.Name+": "+err.Error())
		}
	}
	if len(failed) > 0 {
		return types.NewError(types.ErrInternal, "cannot remove stale ports: "+strings.Join(failed, "; "), "")
	}
	return nil
}
