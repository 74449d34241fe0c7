// Package nat will hold connection tracking, masquerade (SNAT of outbound
// traffic to the uplink's address) and published ports (DNAT to a
// container's address and port). It is not built yet.
package nat
