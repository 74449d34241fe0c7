package daemon

import (
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"vswitch/api"
	"vswitch/dataplane/port"
	"vswitch/header"
	"vswitch/internal/netns"
)

// VXLAN overlays (RFC 7348). A network created with --vxlan-vni gets one
// tunnel port (kind vxlan): a UDP socket in the underlay namespace
// (dataplane/port/vxlan.go). The remote VTEPs and the static MACs behind
// them live in the network's state and are given to the port whenever it
// is opened, at create and at every restart.
//
// The tunnel port is not a container: it carries every station of the
// remote hosts. So it has no port security, storm or conn-rate guard
// (each remote vswitchd guards its own containers where they enter, as a
// Linux host guards its own), and it is exempt from the network's per-port
// MAC limit in the network's FDB; the limit applies instead to each remote
// VTEP in the tunnel's own MAC table, so one VTEP counts as one port
// would.

// VXLANState is a network's overlay configuration.
type VXLANState struct {
	VNI       uint32      `json:"vni"`
	Dev       string      `json:"dev"`
	Netns     string      `json:"netns,omitempty"`      // as the user gave it
	NetnsPath string      `json:"netns_path,omitempty"` // resolved; "" for vswitchd's own
	Local     netip.Addr  `json:"local"`
	Port      string      `json:"port"` // the tunnel port's name
	VTEPs     []VTEPState `json:"vteps,omitempty"`
}

// VTEPState is one remote VTEP and the inner MACs pinned behind it.
type VTEPState struct {
	IP   netip.Addr `json:"ip"`
	MACs []string   `json:"macs,omitempty"`
}

// vxlanPrepareLocked checks a network's --vxlan-* options before the
// network exists: the VNI, the namespace, that the device is there and
// holds the local address, that no other network uses that (namespace,
// address) (one socket per tunnel, and one tunnel per address and UDP
// port), by opening the socket once. It returns the state to keep and the
// inner MTU the underlay allows.
func (d *Daemon) vxlanPrepareLocked(name string, req *api.VXLANCreate) (*VXLANState, int, error) {
	if req.VNI < 1 || req.VNI > header.VXLANMaxVNI {
		return nil, 0, badRequest("bad --vxlan-vni %d: want 1 to %d (24 bits; 0 is not a VNI here)", req.VNI, header.VXLANMaxVNI)
	}
	if req.Dev == "" {
		return nil, 0, badRequest("no underlay device: pass --vxlan-dev IF (the interface the tunnel's datagrams use)")
	}
	if req.Local == "" {
		return nil, 0, badRequest("no local VTEP address: pass --vxlan-local IP (an address of --vxlan-dev)")
	}
	local, err := netip.ParseAddr(req.Local)
	if err != nil || local.Zone() != "" {
		return nil, 0, badRequest("bad --vxlan-local %q: want an IPv4 or IPv6 address of --vxlan-dev", req.Local)
	}
	local = local.Unmap()
	vs := &VXLANState{VNI: uint32(req.VNI), Dev: req.Dev, Netns: req.Netns, Local: local}
	if req.Netns != "" {
		if vs.NetnsPath, err = netns.Path(req.Netns); err != nil {
			return nil, 0, badRequest("--vxlan-netns: %v", err)
		}
	}
	for _, n := range d.st.Networks {
		if o := n.VXLAN; o != nil && o.NetnsPath == vs.NetnsPath && o.Local == local {
			return nil, 0, conflict("network %s already has its VXLAN tunnel on %s in that namespace: one network per local address (UDP 4789 takes one socket); give this one another --vxlan-local", n.Name, local)
		}
	}
	vs.Port, err = d.portNameLocked("", name+"-vxlan", "tunnel")
	if err != nil {
		return nil, 0, err
	}
	p, err := port.OpenVXLAN(port.VXLANConfig{NetnsPath: vs.NetnsPath, Dev: vs.Dev, Local: local, VNI: vs.VNI})
	if err != nil {
		return nil, 0, badRequest("VXLAN: %v", err)
	}
	mtu := p.UnderlayMTU() - p.Overhead()
	p.Close()
	return vs, mtu, nil
}

// plugVXLANLocked adds the tunnel port of a network just created.
func (d *Daemon) plugVXLANLocked(n *NetworkState) error {
	vs := n.VXLAN
	_, err := d.plugPortLocked(PortState{Name: vs.Port, Network: n.Name, Kind: "vxlan", Netns: vs.Netns,
		NetnsPath: vs.NetnsPath, Ifname: vs.Dev, MTU: n.MTU})
	return err
}

// openVXLANLocked opens a network's tunnel port with its remote VTEPs and
// static MACs (openPortLocked, kind vxlan).
func (d *Daemon) openVXLANLocked(n *NetworkState) (*port.VXLAN, error) {
	vs := n.VXLAN
	if vs == nil {
		return nil, badRequest("network %s has no VXLAN configuration", n.Name)
	}
	p, err := port.OpenVXLAN(port.VXLANConfig{NetnsPath: vs.NetnsPath, Dev: vs.Dev, Local: vs.Local, VNI: vs.VNI,
		Aging: time.Duration(n.FDBAging) * time.Second, MACLimit: n.MACLimit})
	if err != nil {
		return nil, err
	}
	p.SetInnerMTU(n.MTU)
	for _, v := range vs.VTEPs {
		if err := p.AddVTEP(v.IP); err != nil {
			d.log.Warn("cannot restore VTEP", "network", n.Name, "vtep", v.IP, "err", err)
			continue
		}
		for _, m := range v.MACs {
			mac, err := header.ParseMAC(m)
			if err == nil {
				err = p.AddStaticMAC(mac, v.IP)
			}
			if err != nil {
				d.log.Warn("cannot restore static VTEP MAC", "network", n.Name, "vtep", v.IP, "mac", m, "err", err)
			}
		}
	}
	return p, nil
}

// vxlanLocked returns an overlay network's state and its open tunnel port.
func (d *Daemon) vxlanLocked(network string) (*netRT, *port.VXLAN, error) {
	n, ok := d.nets[network]
	if !ok {
		return nil, nil, notFound("no network %s: 'vswitchctl network ls' lists them", network)
	}
	if n.cfg.VXLAN == nil {
		return nil, nil, badRequest("network %s is not a VXLAN network: VTEPs belong to a network created with --vxlan-vni", network)
	}
	rt := d.ports[n.cfg.VXLAN.Port]
	if rt == nil || rt.io == nil {
		why := "its port is gone"
		if rt != nil && rt.err != "" {
			why = rt.err
		}
		return n, nil, &Error{Status: 503, Msg: "the VXLAN tunnel of network " + network + " is down: " + why}
	}
	return n, rt.io.(*port.VXLAN), nil
}

// AddVTEP adds a remote VTEP to an overlay network, or, with a MAC, pins
// that MAC behind it (adding the VTEP if it is new).
func (d *Daemon) AddVTEP(network string, req api.VTEPAdd) (api.VTEP, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	n, err := d.vxlanNetLocked(network)
	if err != nil {
		return api.VTEP{}, err
	}
	vs := n.cfg.VXLAN
	ip, err := netip.ParseAddr(req.IP)
	if err != nil || ip.Zone() != "" {
		return api.VTEP{}, badRequest("bad VTEP address %q: want the IPv4 or IPv6 address of a remote VTEP", req.IP)
	}
	ip = ip.Unmap()
	if ip.Is4() != vs.Local.Is4() || ip.IsUnspecified() || ip.IsMulticast() {
		return api.VTEP{}, badRequest("bad VTEP address %s: want a unicast address of the same family as the local VTEP %s", ip, vs.Local)
	}
	if ip == vs.Local {
		return api.VTEP{}, badRequest("%s is network %s's own VTEP address (--vxlan-local)", ip, network)
	}
	var mac header.MAC
	if req.MAC != "" {
		if mac, err = header.ParseMAC(req.MAC); err != nil {
			return api.VTEP{}, badRequest("bad --mac: %v", err)
		}
		if mac.IsMulticast() || mac.IsZero() {
			return api.VTEP{}, badRequest("bad --mac %s: a static entry is for a unicast station", mac)
		}
	}
	i := slices.IndexFunc(vs.VTEPs, func(v VTEPState) bool { return v.IP == ip })
	switch {
	case i >= 0 && req.MAC == "":
		return api.VTEP{}, conflict("VTEP %s is already on network %s: 'network vtep ls %s' shows it", ip, network, network)
	case i >= 0 && slices.Contains(vs.VTEPs[i].MACs, mac.String()):
		return api.VTEP{}, conflict("MAC %s is already pinned behind VTEP %s", mac, ip)
	case i < 0 && len(vs.VTEPs) >= port.VXLANMaxVTEPs:
		return api.VTEP{}, conflict("network %s has %d VTEPs, the most one network takes", network, port.VXLANMaxVTEPs)
	}
	for _, v := range vs.VTEPs {
		if req.MAC != "" && v.IP != ip && slices.Contains(v.MACs, mac.String()) {
			return api.VTEP{}, conflict("MAC %s is pinned behind VTEP %s already: 'network vtep rm' it there first", mac, v.IP)
		}
	}
	_, p, perr := d.vxlanLocked(network)
	if p != nil {
		if i < 0 {
			if err := p.AddVTEP(ip); err != nil {
				return api.VTEP{}, badRequest("%v", err)
			}
		}
		if req.MAC != "" {
			if err := p.AddStaticMAC(mac, ip); err != nil {
				if i < 0 {
					p.RemoveVTEP(ip)
				}
				return api.VTEP{}, badRequest("%v", err)
			}
		}
	}
	if i < 0 {
		vs.VTEPs = append(vs.VTEPs, VTEPState{IP: ip})
		i = len(vs.VTEPs) - 1
	}
	if req.MAC != "" {
		vs.VTEPs[i].MACs = append(vs.VTEPs[i].MACs, mac.String())
	}
	if err := d.st.save(d.opts.StateDir); err != nil {
		return api.VTEP{}, err
	}
	d.log.Info("VTEP added", "network", network, "vtep", ip, "mac", req.MAC, "tunnel_up", perr == nil)
	return d.vtepViewLocked(vs.VTEPs[i], p), nil
}

// vxlanNetLocked returns an overlay network, whether its tunnel is up or not.
func (d *Daemon) vxlanNetLocked(network string) (*netRT, error) {
	n, ok := d.nets[network]
	if !ok {
		return nil, notFound("no network %s: 'vswitchctl network ls' lists them", network)
	}
	if n.cfg.VXLAN == nil {
		return nil, badRequest("network %s is not a VXLAN network: VTEPs belong to a network created with --vxlan-vni", network)
	}
	return n, nil
}

// RemoveVTEP removes a remote VTEP and what was learned or pinned behind it.
func (d *Daemon) RemoveVTEP(network, ipText string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	n, err := d.vxlanNetLocked(network)
	if err != nil {
		return err
	}
	vs := n.cfg.VXLAN
	ip, err := netip.ParseAddr(ipText)
	if err != nil {
		return badRequest("bad VTEP address %q: want the address 'network vtep ls %s' shows", ipText, network)
	}
	ip = ip.Unmap()
	i := slices.IndexFunc(vs.VTEPs, func(v VTEPState) bool { return v.IP == ip })
	if i < 0 {
		return notFound("no VTEP %s on network %s: 'network vtep ls %s' lists them", ip, network, network)
	}
	if _, p, _ := d.vxlanLocked(network); p != nil {
		p.RemoveVTEP(ip)
	}
	vs.VTEPs = slices.Delete(vs.VTEPs, i, i+1)
	d.log.Info("VTEP removed", "network", network, "vtep", ip)
	return d.st.save(d.opts.StateDir)
}

// VTEPs lists an overlay network's remote VTEPs with the MACs behind them.
func (d *Daemon) VTEPs(network string) ([]api.VTEP, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	n, err := d.vxlanNetLocked(network)
	if err != nil {
		return nil, err
	}
	_, p, _ := d.vxlanLocked(network)
	out := []api.VTEP{}
	for _, v := range n.cfg.VXLAN.VTEPs {
		out = append(out, d.vtepViewLocked(v, p))
	}
	return out, nil
}

// vtepViewLocked is one VTEP with the MACs the tunnel has behind it (the
// pinned ones from the state when the tunnel is down).
func (d *Daemon) vtepViewLocked(v VTEPState, p *port.VXLAN) api.VTEP {
	out := api.VTEP{IP: v.IP.String(), MACs: []api.VTEPMAC{}}
	if p == nil {
		for _, m := range v.MACs {
			out.MACs = append(out.MACs, api.VTEPMAC{MAC: m, Static: true})
		}
		return out
	}
	for _, e := range p.Entries() {
		if e.VTEP == v.IP {
			out.MACs = append(out.MACs, api.VTEPMAC{MAC: e.MAC.String(), Static: e.Static, AgeS: int64(e.Age / time.Second)})
		}
	}
	return out
}

// vxlanViewLocked is the "vxlan" member of `network inspect`.
func vxlanView(vs *VXLANState) *api.VXLANInfo {
	if vs == nil {
		return nil
	}
	v := &api.VXLANInfo{VNI: int(vs.VNI), Dev: vs.Dev, Netns: vs.Netns, Local: vs.Local.String(), Port: vs.Port, VTEPs: []string{}}
	for _, t := range vs.VTEPs {
		v.VTEPs = append(v.VTEPs, t.IP.String())
	}
	return v
}

// vxlanDrops adds the tunnel's own drop counters (datagrams refused before
// the dataplane saw them, datagrams the socket refused) to a port's row.
func vxlanDrops(rt *portRT, drops map[string]uint64) {
	if p, ok := rt.io.(*port.VXLAN); ok {
		for k, v := range p.Drops() {
			drops[k] += v
		}
	}
}

func (d *Daemon) vxlanRoutes(mux *http.ServeMux) {
	p := api.Prefix
	mux.HandleFunc("GET "+p+"/networks/{name}/vteps", func(w http.ResponseWriter, r *http.Request) {
		answer(w, 200)(d.VTEPs(r.PathValue("name")))
	})
	mux.HandleFunc("POST "+p+"/networks/{name}/vteps", func(w http.ResponseWriter, r *http.Request) {
		var req api.VTEPAdd
		if decode(w, r, &req) {
			answer(w, 201)(d.AddVTEP(r.PathValue("name"), req))
		}
	})
	mux.HandleFunc("DELETE "+p+"/networks/{name}/vteps/{ip}", func(w http.ResponseWriter, r *http.Request) {
		done(w, d.RemoveVTEP(r.PathValue("name"), strings.TrimSpace(r.PathValue("ip"))))
	})
}
