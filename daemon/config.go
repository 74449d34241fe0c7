package daemon

import (
	"fmt"
	"os"

	"sigs.k8s.io/yaml"

	"vswitch/api"
)

// Config is the declarative setup read with --config: the networks and ports
// that must exist. The keys are the API's (CLI.md), e.g.
//
//	networks:
//	  - name: web
//	    subnet: 10.10.0.0/24
//	ports:
//	  - network: web
//	    netns: c1
//	    ip: 10.10.0.10/24
type Config struct {
	Networks []api.NetworkCreate `json:"networks"`
	Ports    []api.PortAdd       `json:"ports"`
	Attach   []api.PortAttach    `json:"attach"`
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
	return &c, nil
}

// Apply creates what the config lists and the state lacks; what exists
// already (same name, or a port on the same namespace and interface) is
// left alone, so applying the same file on every start is harmless.
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
