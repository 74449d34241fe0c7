// Package policy will hold the rules that decide which ports may talk:
// per-network ACLs and port security. It is not built yet; icc=false (no IP
// between ports of one network) is a one-line check in the dataplane's
// decide (dataplane/l2.go) and the router (dataplane/l3.go).
package policy
