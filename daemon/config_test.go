package daemon

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// goodConfig is a config with every section, which LoadConfig accepts.
const goodConfig = `conntrack_max: 1000
nat_ports: 40000-40100
networks:
  - name: web
    subnet: 10.10.0.0/24
    gateway: 10.10.0.1
    icc: false
    mtu: 1400
    fdb_aging_s: 60
  - name: back
    subnet: 10.30.0.0/24
    no_masquerade: yes
ports:
  - network: web
    netns: c1
    ip: 10.10.0.10/24
  - network: web
    netns: c2
    ip: auto
attach:
  - network: web
    dev: a1
publish:
  - network: web
    proto: tcp
    port: "8000"
    to: 10.10.0.10:8080
acls:
  - network: web
    action: allow
    src: 10.10.0.0/24
    dport: "80"
    priority: 10
`

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "vs.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadConfigGood(t *testing.T) {
	c, err := LoadConfig(writeConfig(t, goodConfig))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Networks) != 2 || c.Networks[0].MTU != 1400 || *c.Networks[0].ICC || !c.Networks[1].NoMasquerade ||
		len(c.Ports) != 2 || c.Ports[0].IP != "10.10.0.10/24" || len(c.Attach) != 1 || c.Publish[0].Port != "8000" ||
		*c.ACLs[0].Priority != 10 || c.ConntrackMax != 1000 {
		t.Fatalf("config decoded as %+v", c)
	}
	// An empty file (or only comments) is an empty config.
	if c, err := LoadConfig(writeConfig(t, "# nothing yet\n")); err != nil || len(c.Networks) != 0 {
		t.Fatalf("empty config: %+v, %v", c, err)
	}
}

// A port's DNS aliases and no_resolv_conf come from the file as from
// `port add --alias`, and go to AddPort with the rest of the entry.
func TestLoadConfigPortDNS(t *testing.T) {
	c, err := LoadConfig(writeConfig(t, "networks:\n  - name: web\n    subnet: 10.10.0.0/24\n"+
		"ports:\n  - network: web\n    netns: c1\n    aliases: [db, Postgres]\n    no_resolv_conf: true\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p := c.Ports[0]; len(p.Aliases) != 2 || p.Aliases[0] != "db" || p.Aliases[1] != "Postgres" || !p.NoResolvConf {
		t.Fatalf("port decoded as %+v", p)
	}
}

// TestLoadConfigLineErrors: each mistake is refused in one line that names
// the file, the line where the mistake is, and what was wrong.
func TestLoadConfigLineErrors(t *testing.T) {
	// replace swaps one line of goodConfig (1-based) for another.
	replace := func(n int, with string) string {
		lines := strings.Split(goodConfig, "\n")
		lines[n-1] = with
		return strings.Join(lines, "\n")
	}
	cases := []struct {
		name string
		body string
		line int
		says string
	}{
		{"unknown top-level key", replace(2, "nat_portz: 40000-40100"), 2, `unknown field "nat_portz" in the top level: known keys are conntrack_max, nat_ports, networks`},
		{"unknown key in a network", replace(8, "    colour: red"), 8, `unknown field "colour" in networks[0]: known keys are name, subnet, gateway`},
		{"unknown key in a port", replace(18, "    adress: 10.10.0.11"), 18, `unknown field "adress" in ports[1]`},
		{"wrong type: string for a number", replace(8, "    mtu: big"), 8, `networks[0].mtu: want a number, got the string "big"`},
		{"wrong type: yes for a string", replace(15, "    netns: yes"), 15, `ports[0].netns: want a string, got yes, which YAML reads as a boolean (quote it for a string)`},
		{"wrong type: boolean for a string", replace(25, "    proto: true"), 25, `publish[0].proto: want a string, got the boolean true`},
		{"wrong type: word for a bool", replace(7, "    icc: maybe"), 7, `networks[0].icc: want true or false, got the string "maybe"`},
		{"wrong type: mapping for a list", "conntrack_max: 9\nnetworks: {name: web}\n", 2, `networks: want a list, got a mapping`},
		{"wrong type: scalar for a list entry", "networks:\n  - web\n", 2, `networks[0]: want an object, got the string "web"`},
		{"wrong type: list for a string", replace(4, "  - name: [web]"), 4, `networks[0].name: want a string, got a list`},
		{"wrong type: top-level number", replace(1, "conntrack_max: 1.5"), 1, `conntrack_max: want a number, got the number 1.5`},
		{"duplicate key", replace(9, "    subnet: 10.11.0.0/24"), 9, `networks[0]: key "subnet" given twice (first on line 5)`},
		{"bad CIDR", replace(5, "    subnet: 10.10.0.0/33"), 5, `networks[0].subnet: bad CIDR "10.10.0.0/33": want an IPv4 subnet like 10.10.0.0/24`},
		{"CIDR not a subnet", replace(11, "    subnet: 10.30.0.7/24"), 11, `networks[1].subnet: subnet 10.30.0.7/24 has host bits set: did you mean 10.30.0.0/24?`},
		{"bad gateway", replace(6, "    gateway: 10.10.0"), 6, `networks[0].gateway: bad address "10.10.0"`},
		{"bad port address", replace(16, "    ip: 10.10.0.10/40"), 16, `ports[0].ip: bad address "10.10.0.10/40"`},
		{"bad ACL source", replace(31, "    src: 10.10.0.0/8x"), 31, `acls[0].src: bad src "10.10.0.0/8x"`},
		{"bad conntrack_max", replace(1, "conntrack_max: -5"), 1, `conntrack_max: bad connection table size -5`},
		{"bad nat_ports", replace(2, "nat_ports: 9-1"), 2, `nat_ports: bad port range "9-1"`},
		// The YAML parser names the line where the construct it could not
		// finish starts, which can be the line above the slip.
		{"not YAML", replace(10, "  - name: [back"), 9, `not valid YAML: did not find expected ',' or ']'`},
		{"tab indentation", replace(6, "\tgateway: 10.10.0.1"), 5, `not valid YAML: found a tab character`},
		{"not YAML, first line", "networks: [\n", 1, `not valid YAML`},
	}
	for _, c := range cases {
		p := writeConfig(t, c.body)
		_, err := LoadConfig(p)
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		msg := err.Error()
		prefix := "config " + p + " line "
		if !strings.HasPrefix(msg, prefix) {
			t.Errorf("%s: %q, want it to start with %q", c.name, msg, prefix)
			continue
		}
		if got := strings.TrimPrefix(msg, prefix); !strings.HasPrefix(got, strconv.Itoa(c.line)+": ") || !strings.Contains(got, c.says) {
			t.Errorf("%s: %q, want line %d saying %q", c.name, msg, c.line, c.says)
		}
		if strings.Contains(msg, "\n") {
			t.Errorf("%s: not one line: %q", c.name, msg)
		}
	}
}
