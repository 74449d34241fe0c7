package daemon

// Config reload: SIGHUP and `vswitchctl reload` read the --config file
// again and apply what changed since it was last applied; every start
// applies the file the same way.
//
// The state records what the file made or adopted the last time
// (AppliedConfig): its entries, the port each port entry made, the rule
// each publish or ACL entry made. The new file is compared with that
// record and with the state, and the difference becomes a plan of
// operations: rules the file no longer names removed, network options
// changed, networks, ports and rules added, ports and networks the file no
// longer names removed. What the plan does not name is not touched: no
// port is re-opened, no table flushed, conntrack kept.
//
// It is all or nothing. Everything that can be judged before acting is
// checked first (LoadConfig for the file alone, planConfig against the
// state): options that cannot change on a running network, a removed
// network that still has ports, an overlap. Then the operations run in an
// order where every one that can fail can also be undone, and the ones
// that cannot be undone (deleting a port's TAP, a network) come last and
// were checked in the plan; when one fails, those before it are undone.

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"vswitch/api"
)

// AppliedConfig is the record, in the state, of the config file last
// applied: the file's entries and what each one made or adopted, so the
// next apply knows what the file no longer names and what changed.
type AppliedConfig struct {
	File   string `json:"file"`
	SHA256 string `json:"sha256"` // of the file's bytes
	Config Config `json:"applied"`
	// What each entry of Config.Ports, .Attach, .Publish and .ACLs made or
	// adopted, by the entry's index: a port's name, a rule's ID.
	Ports   []string `json:"ports,omitempty"`
	Attach  []string `json:"attach,omitempty"`
	Publish []int    `json:"publish,omitempty"`
	ACLs    []int    `json:"acls,omitempty"`
}

// reloadRT is the Daemon's reload state.
type reloadRT struct {
	mu   sync.Mutex // one apply at a time; held across the whole plan and run
	path string     // the --config file; empty without one
}

// Apply applies a config at start (vswitchd --config): what the file
// names and the state lacks is created, what it named last time and no
// longer does is removed, changed options are applied; an entry that
// exists already but was not the file's (made with vswitchctl, or before
// the state recorded the file) is adopted as it is. The file becomes the
// one Reload reads.
func (d *Daemon) Apply(c *Config) error {
	_, err := d.applyConfig(c, true)
	return err
}

// Reload reads the --config file again and applies it as Apply does; the
// daemon's settings (conntrack_max, nat_ports) cannot change while it
// runs. A file with a mistake changes nothing.
func (d *Daemon) Reload() (api.Reload, error) {
	d.reload.mu.Lock()
	path := d.reload.path
	d.reload.mu.Unlock()
	if path == "" {
		return api.Reload{}, conflict("vswitchd was started without --config: there is no file to reload (start it with --config FILE)")
	}
	c, err := LoadConfig(path)
	if err != nil {
		return api.Reload{File: path}, badRequest("%v; nothing was changed", err)
	}
	changes, err := d.applyConfig(c, false)
	if err != nil {
		return api.Reload{File: path}, err
	}
	return api.Reload{File: path, Changes: changes}, nil
}

func (d *Daemon) applyConfig(c *Config, startup bool) ([]string, error) {
	d.reload.mu.Lock()
	defer d.reload.mu.Unlock()
	p, err := d.planConfig(c, startup)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return nil, &Error{Status: e.Status, Msg: e.Msg + "; nothing was changed"}
		}
		return nil, err
	}
	changes, err := p.run(d)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.st.Config = &p.rec
	d.reload.path = c.path
	if err := d.st.save(d.opts.StateDir); err != nil {
		return nil, err
	}
	for _, ch := range changes {
		d.log.Info("config applied", "file", c.path, "change", ch)
	}
	if changes == nil {
		changes = []string{}
	}
	return changes, nil
}

// configPlan is what applying a config will do.
type configPlan struct {
	c   *Config
	ops []reloadOp
	rec AppliedConfig // the record once it ran (run fills in what adds make)
}

// reloadOp is one step of a plan. do returns the change as reload prints
// it; undo reverses a do that succeeded (nil: it cannot be, and the plan
// checked it cannot fail).
type reloadOp struct {
	at   string // the entry it comes from (networks[1]), for the line of an error
	do   func() (string, error)
	undo func()
}

// planned sorts a plan's operations: every one that can be undone before
// every one that cannot.
const (
	stepRulesOut = iota
	stepOptions
	stepNetworksIn
	stepPortsIn
	stepRulesIn
	stepPortsOut
	stepNetworksOut
	nSteps
)

// errAt is a refusal at the entry or value at path, in the words of
// LoadConfig's: "config FILE line N: path: msg".
func (c *Config) errAt(status int, path, format string, a ...any) error {
	le := &lineError{line: lineOf(c.lines, path), msg: path + ": " + fmt.Sprintf(format, a...)}
	return &Error{Status: status, Msg: fmt.Sprintf("config %s %v", c.path, le)}
}

// errFile is a refusal about no line of the file (something it no longer
// names).
func (c *Config) errFile(status int, format string, a ...any) error {
	return &Error{Status: status, Msg: fmt.Sprintf("config %s: %s", c.path, fmt.Sprintf(format, a...))}
}

// run carries out a plan; when an operation fails, those before it are
// undone, and the error names the entry of the file it came from.
func (p *configPlan) run(d *Daemon) ([]string, error) {
	var done []reloadOp
	var changes []string
	for _, op := range p.ops {
		what, err := op.do()
		if err != nil {
			partial := false
			for j := len(done) - 1; j >= 0; j-- {
				if done[j].undo == nil {
					partial = true
					continue
				}
				done[j].undo()
			}
			status := errStatus(err)
			if status == 500 {
				status = 409
			}
			tail := "nothing was changed"
			if partial {
				tail = "what was removed before it stays removed"
			}
			if op.at == "" {
				return nil, p.c.errFile(status, "%v; %s", err, tail)
			}
			return nil, p.c.errAt(status, op.at, "%v; %s", err, tail)
		}
		done = append(done, op)
		if what != "" {
			changes = append(changes, strings.Split(what, "\n")...)
		}
	}
	return changes, nil
}

// undo logs an undo that failed: the daemon is then between the old and
// the new config, and the operator must know.
func (d *Daemon) undo(what string, err error) {
	if err != nil {
		d.log.Error("config apply failed and could not be undone entirely", "undo", what, "err", err)
	}
}
