package daemon

import (
	"encoding/json"
	"fmt"
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
	MTU            int            `json:"mtu"`
	NoDefaultRoute bool           `json:"no_default_route,omitempty"`
	PortSecurity   *bool          `json:"port_security,omitempty"` // nil: the network's (TAP) or off (attached)
	AllowedIPs     []netip.Prefix `json:"allowed_ips,omitempty"`
	Aliases        []string       `json:"aliases,omitempty"`     // more DNS names (port add --alias)
	ResolvConf     bool           `json:"resolv_conf,omitempty"` // vswitchd wrote /etc/netns/NS/resolv.conf
}

// StaticFDB is a static MAC entry (`fdb add`).
type StaticFDB struct {
	MAC  string `json:"mac"`
	Port string `json:"port"`
}

const stateVersion = 1
const stateFile = "state.json"

// loadState reads the state file; a missing file is an empty state.
func loadState(dir string) (*State, bool, error) {
	data, err := os.ReadFile(filepath.Join(dir, stateFile))
	if os.IsNotExist(err) {
		return &State{Version: stateVersion}, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("cannot read state: %v", err)
	}
	var st State
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, false, fmt.Errorf("state file %s is damaged (%v): move it away to start empty", filepath.Join(dir, stateFile), err)
	}
	// A file edited by hand (or from before the counters) must still never
	// hand out an ID in use.
	for _, p := range st.Publish {
		st.LastPublishID = max(st.LastPublishID, p.ID)
	}
	for _, a := range st.ACLs {
		st.LastACLID = max(st.LastACLID, a.ID)
	}
	return &st, true, nil
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
