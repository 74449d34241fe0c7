package daemon

// Config reload: SIGHUP and `vswitchctl reload` read the --config file
// again and apply what changed since it was last applied.

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
	path string // the --config file; empty without one
}
