// Package nat is vswitch's connection-tracking table and NAT binding
// allocator. It is being written; see the package's final doc.go.
package nat
