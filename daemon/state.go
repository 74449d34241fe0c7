package daemon

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
)

// State is everything vswitchd must remember across restarts. It is the
// single source of truth for configuration; the dataplane is rebuilt from it.
type State struct {
	Version   int            `json:"version"`
	Networks  []NetworkState `json:"networks"`
	Ports     []PortState    `json:"ports"`
	StaticFDB []StaticFDB    `json:"static_fdb,omitempty"`
	Routes    []RouteState   `json:"routes,omitempty"`
	Uplinks   []UplinkState  `json:"uplinks,omitempty"`
	Publish   []PublishState `json:"publish,omitempty"`
	ACLs      []ACLState     `json:"acls,omitempty"`
	// The last IDs given to a publish rule and an ACL rule. IDs are never
	// given twice by one state file, so an ID in a script or a log always
	// means the same rule, even after it was removed.
	LastPublishID int `json:"last_publish_id,omitempty"`
	LastACLID     int `json:"last_acl_id,omitempty"`
	// Config is what the --config file made or adopted when it was last
	// applied (reload.go); nil before a file was applied (version 2).
	Config *AppliedConfig `json:"config,omitempty"`
}

// PublishState is a published port (`publish add`).
type PublishState struct {
	ID       int            `json:"id"`
	Network  string         `json:"network"`
	Proto    string         `json:"proto"`            // tcp | udp
	HostIP   netip.Addr     `json:"host_ip,omitzero"` // invalid: every address of vswitchd
	HostPort uint16         `json:"host_port"`
	To       netip.AddrPort `json:"to"`
}

// ACLState is one rule of a network's ACL (`acl add`). Zero fields match
// anything.
type ACLState struct {
	ID       int          `json:"id"`
	Network  string       `json:"network"`
	Action   string       `json:"action"` // allow | deny
	Src      netip.Prefix `json:"src,omitzero"`
	Dst      netip.Prefix `json:"dst,omitzero"`
	Proto    string       `json:"proto,omitempty"` // tcp | udp | icmp
	DPortMin uint16       `json:"dport_min,omitempty"`
	DPortMax uint16       `json:"dport_max,omitempty"`
	Priority int          `json:"priority"`
}

// RouteState is a static route (`route add`): a next hop or an egress port.
type RouteState struct {
	Prefix netip.Prefix `json:"prefix"`
	Via    netip.Addr   `json:"via,omitzero"`
	Port   string       `json:"port,omitempty"`
}

// UplinkState is the way out: an AF_PACKET port whose IP and MAC vswitchd
// owns.
type UplinkState struct {
	Name      string       `json:"name"`
	Dev       string       `json:"dev"`
	Netns     string       `json:"netns"`
	NetnsPath string       `json:"netns_path"`
	IP        netip.Prefix `json:"ip"`
	Gateway   netip.Addr   `json:"gateway,omitzero"`
	MAC       string       `json:"mac"` // chosen once; distinct from the interface's own
	// IPv6 on the link (uplink add --ip6, --gateway6); absent: none.
	IP6      netip.Prefix `json:"ip6,omitzero"`
	Gateway6 netip.Addr   `json:"gateway6,omitzero"`
	// VLAN (uplink add --vlan): the 802.1Q id of the uplink's frames on
	// Dev (daemon/vlan_uplink.go); absent: untagged.
	VLAN int `json:"vlan,omitempty"`
}

// NetworkState is one network's configuration.
type NetworkState struct {
	Name       string       `json:"name"`
	Subnet     netip.Prefix `json:"subnet"`
	Gateway    netip.Addr   `json:"gateway"`
	GatewayMAC string       `json:"gateway_mac"` // chosen once, never changes
	Internal   bool         `json:"internal"`
	ICC        bool         `json:"icc"`
	Masquerade bool         `json:"masquerade"`
	MTU        int          `json:"mtu"`
	FDBAging   int          `json:"fdb_aging_s"`
	MACLimit   int          `json:"mac_limit"`
	Connected  []string     `json:"connected,omitempty"`   // networks routed to (network connect)
	ACLDefault string       `json:"acl_default,omitempty"` // deny, or allow (also when empty: state files from before ACLs)
	// The ingress guard (daemon/guard.go). Port security is stored as its
	// negation so state files from before it get the default, on.
	NoPortSecurity bool `json:"no_port_security,omitempty"`
	StormLimit     int  `json:"storm_limit,omitempty"`
	ConnRate       int  `json:"conn_rate,omitempty"`
	// VXLAN is set on an overlay network (daemon/vxlan.go).
	VXLAN *VXLANState `json:"vxlan,omitempty"`
	// IPv6 (daemon/ipv6.go): the network's /64 and its gateway's global
	// address; absent (no IPv6) in files from before it.
	Subnet6  netip.Prefix `json:"subnet6,omitzero"`
	Gateway6 netip.Addr   `json:"gateway6,omitzero"`
	// NAT66: IPv6 leaving by the uplink is masqueraded (daemon/nat66.go).
	NAT66 bool `json:"nat66,omitempty"`
	// VLAN is the network's 802.1Q VLAN id (daemon/vlan.go); 0: none.
	VLAN int `json:"vlan,omitempty"`
}

// PortState is one port's configuration.
type PortState struct {
	Name           string         `json:"name"`
	Network        string         `json:"network"`
	Kind           string         `json:"kind"`
	Netns          string         `json:"netns"`      // as the user gave it
	NetnsPath      string         `json:"netns_path"` // resolved
	Ifname         string         `json:"ifname"`
	MAC            string         `json:"mac"`
	IP             netip.Prefix   `json:"ip,omitzero"`
	IP6            netip.Prefix   `json:"ip6,omitzero"` // on a network with IPv6 (daemon/ipv6.go)
	MTU            int            `json:"mtu"`
	NoDefaultRoute bool           `json:"no_default_route,omitempty"`
	PortSecurity   *bool          `json:"port_security,omitempty"` // nil: the network's (TAP) or off (attached)
	AllowedIPs     []netip.Prefix `json:"allowed_ips,omitempty"`
	Aliases        []string       `json:"aliases,omitempty"`     // more DNS names (port add --alias)
	ResolvConf     bool           `json:"resolv_conf,omitempty"` // vswitchd wrote /etc/netns/NS/resolv.conf
	// Ingress policing (`port set`, daemon/police.go): Mbit/s, 0: none;
	// KB of burst, 0: the default.
	IngressRateMbit int `json:"ingress_rate_mbit,omitempty"`
	IngressBurstKB  int `json:"ingress_burst_kb,omitempty"`
	// A trunk (daemon/vlan.go): Network is empty, the VLAN networks are
	// carried (those of VLANs only, when set), Native takes untagged frames.
	Trunk  bool   `json:"trunk,omitempty"`
	VLANs  string `json:"vlans,omitempty"`
	Native int    `json:"native,omitempty"`
}

// StaticFDB is a static MAC entry (`fdb add`).
type StaticFDB struct {
	MAC  string `json:"mac"`
	Port string `json:"port"`
}

// stateVersion is the version of the state file this vswitchd writes.
// Each version it knows has a migration to the next (migrations); a file
// of a later version is refused, untouched.
//
//	1: networks, ports, static FDB, routes, uplinks, publish, ACLs
//	2: the config file last applied (State.Config), for reload; every
//	   network says its acl_default (empty meant allow)
//	3: what a version 2 vswitchd would drop without a word when it saves:
//	   VLAN trunk ports (trunk, vlans, native), NAT66 on networks, the
//	   uplink's IPv6 address and gateway, the uplink's VLAN. Nothing of version 2 changes
//	   meaning; the bump makes an older vswitchd refuse the file rather
//	   than lose them.
const stateVersion = 3
const stateFile = "state.json"

// migrations[v] turns a state of version v into version v+1, in place.
var migrations = map[int]func(*State){
	1: migrateV1,
	2: func(*State) {}, // version 3 only adds fields: a version 2 state is one as it is
}

// migrateV1 makes a version 1 state a version 2 one. Version 1 recorded no
// config file: the first apply after the upgrade adopts what the file
// names and finds (as every start did), and records it from then on.
func migrateV1(st *State) {
	for i := range st.Networks {
		if st.Networks[i].ACLDefault == "" {
			st.Networks[i].ACLDefault = "allow"
		}
	}
	st.Config = nil
}

// loadState reads the state file; a missing file is an empty state. A file
// of an older version is migrated in memory; from is the version it had
// (0 when the file was missing or current) and raw its bytes, which the
// caller keeps before the migrated state replaces them. A file of a newer
// version is refused and left as it is.
func loadState(dir string) (st *State, existed bool, from int, raw []byte, err error) {
	path := filepath.Join(dir, stateFile)
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return &State{Version: stateVersion}, false, 0, nil, nil
	}
	if err != nil {
		return nil, false, 0, nil, fmt.Errorf("cannot read state: %v", err)
	}
	var head struct {
		Version int `json:"version"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, false, 0, nil, fmt.Errorf("state file %s is damaged (%v): move it away to start empty", path, err)
	}
	v := head.Version
	if v == 0 {
		v = 1 // written by hand without a version: the first format
	}
	if v > stateVersion {
		return nil, false, 0, nil, fmt.Errorf("state file %s is version %d, this vswitchd knows up to %d: upgrade vswitchd or move the state dir", path, v, stateVersion)
	}
	if v < 0 {
		return nil, false, 0, nil, fmt.Errorf("state file %s is damaged (version %d): move it away to start empty", path, v)
	}
	st = &State{}
	if err := json.Unmarshal(data, st); err != nil {
		return nil, false, 0, nil, fmt.Errorf("state file %s is damaged (%v): move it away to start empty", path, err)
	}
	if v < stateVersion {
		from = v
		for ; v < stateVersion; v++ {
			migrations[v](st)
		}
	}
	st.Version = stateVersion
	// A file edited by hand (or from before the counters) must still never
	// hand out an ID in use.
	for _, p := range st.Publish {
		st.LastPublishID = max(st.LastPublishID, p.ID)
	}
	for _, a := range st.ACLs {
		st.LastACLID = max(st.LastACLID, a.ID)
	}
	return st, true, from, data, nil
}

// openState is loadState for New: an older file is migrated, and its bytes
// kept beside it (keepOldState) before anything rewrites it.
func openState(dir string, log *slog.Logger) (*State, bool, error) {
	st, existed, from, raw, err := loadState(dir)
	if err != nil || from == 0 {
		return st, existed, err
	}
	kept, err := keepOldState(dir, from, raw)
	if err != nil {
		return nil, false, err
	}
	log.Info("state file migrated", "from_version", from, "to_version", stateVersion, "old_file_kept_as", kept)
	return st, existed, nil
}

// keepOldState saves the bytes of a state file of version from next to
// it, as state.json.vN, before the migrated state replaces it: what an
// operator puts back to run the older vswitchd again. An existing copy is
// kept (the first one is the one from before the upgrade).
func keepOldState(dir string, from int, raw []byte) (string, error) {
	path := filepath.Join(dir, fmt.Sprintf("%s.v%d", stateFile, from))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if os.IsExist(err) {
		return path, nil
	}
	if err != nil {
		return "", fmt.Errorf("cannot keep the version %d state file: %v", from, err)
	}
	if _, err := f.Write(raw); err != nil {
		f.Close()
		return "", fmt.Errorf("cannot keep the version %d state file: %v", from, err)
	}
	return path, f.Close()
}

// save writes the state atomically: a temp file, fsync, rename, fsync of the
// directory. A crash leaves either the old or the new file, never half.
func (st *State) save(dir string) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".state-*.json")
	if err != nil {
		return fmt.Errorf("cannot write state in %s: %v", dir, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("cannot write state: %v", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("cannot sync state: %v", err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, stateFile)); err != nil {
		return fmt.Errorf("cannot replace state file: %v", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
