// Package policy will hold the rules that decide which ports may talk: icc
// (container to container inside one network) and per-network ACLs. It is
// not built yet.
package policy
