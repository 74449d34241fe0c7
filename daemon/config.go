package daemon

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"

	"vswitch/api"
)

// Config is the declarative setup read with --config: daemon settings and
// the networks and ports that must exist. The keys are the API's (CLI.md),
// and the settings' are the flags' with '_' for '-' (a flag given wins), e.g.
//
//	conntrack_max: 262144
//	nat_ports: 32768-60999
//	networks:
//	  - name: web
//	    subnet: 10.10.0.0/24
//	ports:
//	  - network: web
//	    netns: c1
//	    ip: 10.10.0.10/24
type Config struct {
	ConntrackMax int                 `json:"conntrack_max"`
	NATPorts     string              `json:"nat_ports"`
	Networks     []api.NetworkCreate `json:"networks"`
	Ports        []api.PortAdd       `json:"ports"`
	Attach       []api.PortAttach    `json:"attach"`
	Publish      []api.PublishAdd    `json:"publish"`
	ACLs         []api.ACLAdd        `json:"acls"`
}

// LoadConfig reads a YAML config file, refusing unknown keys.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read config: %v", err)
	}
	var c Config
	if err := yaml.UnmarshalStrict(data, &c); err != nil {
		return nil, fmt.Errorf("config %s: %v", path, err)
	}
	if c.ConntrackMax != 0 {
		if err := CheckConntrackMax(c.ConntrackMax); err != nil {
			return nil, fmt.Errorf("config %s: conntrack_max: %v", path, err)
		}
	}
	if c.NATPorts != "" {
		if _, _, err := ParseNATPorts(c.NATPorts); err != nil {
			return nil, fmt.Errorf("config %s: nat_ports: %v", path, err)
		}
	}
	return &c, nil
}

// MaxConntrack bounds --conntrack-max: far above what a host's flows need,
// low enough that a typo cannot ask for tens of gigabytes.
const MaxConntrack = 1 << 24

// CheckConntrackMax validates --conntrack-max (conntrack_max in a config).
func CheckConntrackMax(n int) error {
	if n < 1 || n > MaxConntrack {
		return fmt.Errorf("bad connection table size %d: want 1 to %d entries", n, MaxConntrack)
	}
	return nil
}

// ParseNATPorts reads --nat-ports (nat_ports in a config): LOW-HIGH, the
// source ports masquerade picks from when a flow's own is taken.
func ParseNATPorts(s string) (lo, hi uint16, err error) {
	a, b, ok := strings.Cut(s, "-")
	x, err1 := strconv.ParseUint(a, 10, 16)
	y, err2 := strconv.ParseUint(b, 10, 16)
	if !ok || err1 != nil || err2 != nil || x == 0 || y < x {
		return 0, 0, fmt.Errorf("bad port range %q: want LOW-HIGH, ports 1 to 65535 with LOW <= HIGH, e.g. 32768-60999", s)
	}
	return uint16(x), uint16(y), nil
}

// Apply creates what the config lists and the state lacks; what exists
// already (same name, a port on the same namespace and interface, a
// published port or ACL rule the same in every field) is left alone, so applying the same file on every start is harmless.
func (d *Daemon) Apply(c *Config) error {
	for _, n := range c.Networks {
		if _, err := d.Network(n.Name); err == nil {
			continue
		}
		if _, err := d.CreateNetwork(n); err != nil {
			return fmt.Errorf("config: network %s: %v", n.Name, err)
		}
	}
	for _, p := range c.Ports {
		if d.hasPort(p.Name, p.Netns, p.Ifname) {
			continue
		}
		if _, err := d.AddPort(p); err != nil {
			return fmt.Errorf("config: port on %s: %v", p.Netns, err)
		}
	}
	for _, p := range c.Attach {
		if d.hasPort(p.Name, p.Netns, p.Dev) {
			continue
		}
		if _, err := d.AttachPort(p); err != nil {
			return fmt.Errorf("config: attach %s: %v", p.Dev, err)
		}
	}
	for _, p := range c.Publish {
		if d.hasPublish(p) {
			continue
		}
		if _, err := d.AddPublish(p); err != nil {
			return fmt.Errorf("config: publish %s %s on %s: %v", p.Proto, p.Port, p.Network, err)
		}
	}
	for _, r := range c.ACLs {
		if d.hasACL(r) {
			continue
		}
		if _, err := d.AddACL(r); err != nil {
			return fmt.Errorf("config: acl on %s: %v", r.Network, err)
		}
	}
	return nil
}

func (d *Daemon) hasPort(name, ns, ifname string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, p := range d.st.Ports {
		if (name != "" && p.Name == name) || (p.Netns == ns && (ifname == "" || p.Ifname == ifname)) {
			return true
		}
	}
	return false
}
