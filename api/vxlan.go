package api

// VXLAN overlays (RFC 7348): a network with a tunnel port and its remote
// VTEPs (docs/cli.md, "Overlay").

// VXLANCreate is the "vxlan" member of NetworkCreate: the network gets a
// tunnel port on UDP 4789 at Local, on Dev in namespace Netns.
type VXLANCreate struct {
	VNI   int    `json:"vni"`
	Dev   string `json:"dev"`
	Netns string `json:"netns,omitempty"` // the underlay namespace; "" for vswitchd's own
	Local string `json:"local"`           // the local VTEP address, on Dev
}

// VXLANInfo is the "vxlan" member of Network.
type VXLANInfo struct {
	VNI   int      `json:"vni"`
	Dev   string   `json:"dev"`
	Netns string   `json:"netns,omitempty"`
	Local string   `json:"local"`
	Port  string   `json:"port"`  // the tunnel port's name, as `port ls` shows it
	VTEPs []string `json:"vteps"` // remote VTEP addresses
}

// VTEPAdd is the body of POST /v1/networks/{name}/vteps.
type VTEPAdd struct {
	IP  string `json:"ip"`
	MAC string `json:"mac,omitempty"` // pin this inner MAC behind the VTEP (a static entry)
}

// VTEP is one remote VTEP as `network vtep ls` shows it, with the inner
// MACs behind it.
type VTEP struct {
	IP   string    `json:"ip"`
	MACs []VTEPMAC `json:"macs"`
}

// VTEPMAC is one inner MAC behind a VTEP: learned (with its age) or static.
type VTEPMAC struct {
	MAC    string `json:"mac"`
	Static bool   `json:"static"`
	AgeS   int64  `json:"age_s"`
}
