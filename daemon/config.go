package daemon

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
	yaml3 "sigs.k8s.io/yaml/goyaml.v3"

	"vswitch/api"
	"vswitch/policy"
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

	// Where it was read from, for reload and its errors (LoadConfig).
	path  string         // the file
	sum   string         // sha256 of its bytes, hex
	lines map[string]int // line of each value by path (networks[0].subnet)
}

// LoadConfig reads a YAML config file. Every mistake it can see before
// anything is created is refused in one line naming the file and the
// line: an unknown key, a value of the wrong type, a subnet, address or
// CIDR that does not parse, a bad daemon setting. (What only the daemon
// can judge, such as a subnet overlapping another, Apply reports.)
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read config: %v", err)
	}
	// Checked first on the YAML tree, which knows where each key and value
	// is; sigs.k8s.io/yaml then decodes as it always did (through JSON, so
	// the keys are the API's), and finds nothing more.
	lines, err := checkConfigTree(data)
	if err != nil {
		return nil, fmt.Errorf("config %s %v", path, err)
	}
	var c Config
	if err := yaml.UnmarshalStrict(data, &c); err != nil {
		return nil, fmt.Errorf("config %s: %v", path, err)
	}
	if err := c.check(lines); err != nil {
		return nil, fmt.Errorf("config %s %v", path, err)
	}
	sum := sha256.Sum256(data)
	c.path, c.sum, c.lines = path, hex.EncodeToString(sum[:]), lines
	return &c, nil
}

// check validates the values LoadConfig can judge alone; lines maps a
// value's path (networks[0].subnet) to its line.
func (c *Config) check(lines map[string]int) error {
	at := func(path, format string, a ...any) error {
		return &lineError{line: lineOf(lines, path), msg: path + ": " + fmt.Sprintf(format, a...)}
	}
	if c.ConntrackMax != 0 {
		if err := CheckConntrackMax(c.ConntrackMax); err != nil {
			return at("conntrack_max", "%v", err)
		}
	}
	if c.NATPorts != "" {
		if _, _, err := ParseNATPorts(c.NATPorts); err != nil {
			return at("nat_ports", "%v", err)
		}
	}
	names := map[string]int{}
	subnets := make([]netip.Prefix, len(c.Networks))
	for i, n := range c.Networks {
		k := fmt.Sprintf("networks[%d]", i)
		if n.Name == "" {
			return at(k, "no name: every network needs one (name: web)")
		}
		if err := checkName("network", n.Name); err != nil {
			return at(k+".name", "%v", err)
		}
		if j, ok := names[n.Name]; ok {
			return at(k+".name", "network %s is listed twice (first as networks[%d])", n.Name, j)
		}
		names[n.Name] = i
		if n.Subnet == "" {
			return at(k, "network %s has no subnet: give one (subnet: 10.10.0.0/24)", n.Name)
		}
		p, err := netip.ParsePrefix(n.Subnet)
		if err != nil || !p.Addr().Is4() {
			return at(k+".subnet", "bad CIDR %q: want an IPv4 subnet like 10.10.0.0/24", n.Subnet)
		}
		if p != p.Masked() {
			return at(k+".subnet", "subnet %s has host bits set: did you mean %s?", p, p.Masked())
		}
		if p.Bits() > 30 {
			return at(k+".subnet", "subnet %s is too small: it needs room for a gateway and ports (/30 at most)", p)
		}
		for j, o := range subnets[:i] {
			if o.Overlaps(p) {
				return at(k+".subnet", "subnet %s overlaps %s of network %s (networks[%d]): pick a subnet that does not", p, o, c.Networks[j].Name, j)
			}
		}
		subnets[i] = p
		if n.Gateway != "" {
			a, err := netip.ParseAddr(n.Gateway)
			if err != nil || !a.Is4() {
				return at(k+".gateway", "bad address %q: want an IPv4 address inside the subnet", n.Gateway)
			}
			if err := checkHostAddr(p, a); err != nil {
				return at(k+".gateway", "%v", err)
			}
		}
		if n.MTU != 0 && (n.MTU < 576 || n.MTU > 65521) {
			return at(k+".mtu", "bad MTU %d: want 576 to 65521", n.MTU)
		}
		if n.FDBAging != nil && (*n.FDBAging < 1 || *n.FDBAging > 1000000) {
			return at(k+".fdb_aging_s", "bad fdb_aging_s %d: want 1 to 1000000 seconds", *n.FDBAging)
		}
		if n.MACLimit != nil && *n.MACLimit < 0 {
			return at(k+".mac_limit", "bad mac_limit %d: want 0 (no limit) or more", *n.MACLimit)
		}
		if _, ok := policy.ParseAction(n.ACLDefault); n.ACLDefault != "" && !ok {
			return at(k+".acl_default", "bad acl_default %q: want allow or deny", n.ACLDefault)
		}
		var ns NetworkState
		if err := guardOptions(&ns, n); err != nil {
			key := ".storm_limit"
			if n.StormLimit >= 0 && n.StormLimit <= 100_000_000 {
				key = ".conn_rate"
			}
			return at(k+key, "%v", err)
		}
	}
	for i, p := range c.Ports {
		if s := p.IP; s != "" && s != "auto" {
			_, err1 := netip.ParseAddr(s)
			_, err2 := netip.ParsePrefix(s)
			if err1 != nil && err2 != nil {
				return at(fmt.Sprintf("ports[%d].ip", i), "bad address %q: want an IPv4 address, a CIDR like 10.0.0.5/24, or auto", s)
			}
		}
	}
	for i, a := range c.Attach {
		if key, err := checkTrunkEntry(a); err != nil { // vlan.go
			return at(fmt.Sprintf("attach[%d].%s", i, key), "%v", err)
		}
	}
	for i, r := range c.ACLs {
		for key, v := range map[string]string{"src": r.Src, "dst": r.Dst} {
			if _, err := parseRulePrefix(key, v); err != nil {
				return at(fmt.Sprintf("acls[%d].%s", i, key), "%v", err)
			}
		}
	}
	return nil
}

// lineOf is the line of the value at path, else of the nearest entry
// holding it (a key left out has no line of its own).
func lineOf(lines map[string]int, path string) int {
	for path != "" {
		if l := lines[path]; l != 0 {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 0
}

// lineError is a config mistake at a line of the file (0: unknown). Its
// text follows the file name: "line 7: ...".
type lineError struct {
	line int
	msg  string
}

func (e *lineError) Error() string {
	if e.line == 0 {
		return ": " + e.msg
	}
	return fmt.Sprintf("line %d: %s", e.line, e.msg)
}

// yamlLineRE is how the YAML parser words the position of a syntax error.
var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// checkConfigTree walks the YAML tree against Config: every key must name
// a field (by its json tag, as the decoder will match it), every value
// must have the field's type. It returns the line of every value by path.
func checkConfigTree(data []byte) (map[string]int, error) {
	var doc yaml3.Node
	if err := yaml3.Unmarshal(data, &doc); err != nil {
		msg := strings.ReplaceAll(err.Error(), "\n", "; ")
		if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
			line, _ := strconv.Atoi(m[1])
			return nil, &lineError{line: line, msg: "not valid YAML: " + m[2]}
		}
		return nil, &lineError{msg: "not valid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
	}
	lines := map[string]int{}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return lines, nil // an empty file: nothing to create
	}
	return lines, checkNode(doc.Content[0], reflect.TypeOf(Config{}), "", lines)
}

func checkNode(n *yaml3.Node, t reflect.Type, path string, lines map[string]int) error {
	for n.Kind == yaml3.AliasNode {
		n = n.Alias
	}
	if path != "" {
		lines[path] = n.Line
	}
	if n.Kind == yaml3.ScalarNode && n.ShortTag() == "!!null" {
		return nil // the decoder leaves the zero value
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	where := path
	if where == "" {
		where = "the top level"
	}
	wrong := func() error {
		return &lineError{line: n.Line, msg: fmt.Sprintf("%s: want %s, got %s", where, jsonKind(t.Kind()), yamlKind(n))}
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml3.MappingNode {
			return wrong()
		}
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml3.ScalarNode {
				return &lineError{line: k.Line, msg: fmt.Sprintf("%s: a key must be a plain word", where)}
			}
			if k.Value == "<<" {
				continue // a merge key: its fields are the decoder's to check
			}
			f, ok := fieldByKey(t, k.Value)
			if !ok {
				return &lineError{line: k.Line, msg: fmt.Sprintf("unknown field %q in %s: known keys are %s", k.Value, where, strings.Join(keysOf(t), ", "))}
			}
			if l, ok := seen[f]; ok {
				return &lineError{line: k.Line, msg: fmt.Sprintf("%s: key %q given twice (first on line %d)", where, k.Value, l)}
			}
			seen[f] = k.Line
			sf, _ := t.FieldByName(f)
			if err := checkNode(v, sf.Type, join(path, jsonName(sf)), lines); err != nil {
				return err
			}
		}
		return nil
	case reflect.Slice:
		if n.Kind != yaml3.SequenceNode {
			return wrong()
		}
		for i, item := range n.Content {
			if err := checkNode(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i), lines); err != nil {
				return err
			}
		}
		return nil
	case reflect.String:
		// sigs.k8s.io/yaml turns a number into the string a string field
		// wants (port: 8000 is "8000"), and a boolean too; but a bare true,
		// yes or off where a word is expected is surely a slip (YAML 1.1,
		// which it reads, makes yes, on and off booleans): refused, with a
		// hint to quote it.
		if n.Kind != yaml3.ScalarNode || n.ShortTag() == "!!bool" || (n.Style == 0 && yaml11Bool[n.Value]) {
			return wrong()
		}
	case reflect.Bool:
		if n.Kind != yaml3.ScalarNode || !(n.ShortTag() == "!!bool" || (n.Style == 0 && yaml11Bool[n.Value])) {
			return wrong()
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if n.Kind != yaml3.ScalarNode || n.ShortTag() != "!!int" {
			return wrong()
		}
	}
	return nil
}

// yaml11Bool are the plain words YAML 1.1 reads as booleans besides true
// and false.
var yaml11Bool = map[string]bool{"y": true, "Y": true, "yes": true, "Yes": true, "YES": true,
	"n": true, "N": true, "no": true, "No": true, "NO": true,
	"on": true, "On": true, "ON": true, "off": true, "Off": true, "OFF": true}

// yamlKind names what a node is, for "want X, got Y".
func yamlKind(n *yaml3.Node) string {
	switch n.Kind {
	case yaml3.MappingNode:
		return "a mapping (key: value lines)"
	case yaml3.SequenceNode:
		return "a list"
	}
	if n.Style == 0 && yaml11Bool[n.Value] {
		return fmt.Sprintf("%s, which YAML reads as a boolean (quote it for a string)", n.Value)
	}
	switch n.ShortTag() {
	case "!!int", "!!float":
		return fmt.Sprintf("the number %s (quote it for a string)", n.Value)
	case "!!bool":
		return fmt.Sprintf("the boolean %s (quote it for a string)", n.Value)
	case "!!str":
		return fmt.Sprintf("the string %q", n.Value)
	}
	return fmt.Sprintf("%q", n.Value)
}

// fieldByKey finds the field a key decodes into: its json name, matched
// as encoding/json does (exactly, else ignoring case).
func fieldByKey(t reflect.Type, key string) (string, bool) {
	fold := ""
	for i := range t.NumField() {
		f := t.Field(i)
		name := jsonName(f)
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == key {
			return f.Name, true
		}
		if fold == "" && strings.EqualFold(name, key) {
			fold = f.Name
		}
	}
	return fold, fold != ""
}

func keysOf(t reflect.Type) []string {
	var keys []string
	for i := range t.NumField() {
		if f := t.Field(i); f.IsExported() && jsonName(f) != "-" {
			keys = append(keys, jsonName(f))
		}
	}
	return keys
}

func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "" {
		return f.Name
	}
	return name
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
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
