package api

// Reload is the answer of POST /v1/reload: the --config file vswitchd read
// again, and what applying it changed, one line per change (none when the
// file asks for nothing new).
type Reload struct {
	File    string   `json:"file"`
	Changes []string `json:"changes"`
}
