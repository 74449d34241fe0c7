package daemon

import (
	"vswitch/dataplane/port"
	"vswitch/header"
)

// afPort is a port on an existing interface: a plain AF_PACKET socket or
// one reading through a receive ring (Options.AFPacketRing).
type afPort interface {
	port.Port
	MAC() header.MAC
}

// openAFPacketLocked opens the packet socket of `port attach` or an uplink.
// With --afpacket-ring it asks for a receive ring first; a kernel that
// refuses one still gets a working port, the plain socket.
func (d *Daemon) openAFPacketLocked(nsPath, dev string) (afPort, error) {
	if v := d.opts.AFPacketRing; v == 2 || v == 3 {
		ver := port.RingV3
		if v == 2 {
			ver = port.RingV2
		}
		r, err := port.OpenAFPacketRing(nsPath, dev, ver)
		if err == nil {
			return r, nil
		}
		d.log.Warn("no AF_PACKET receive ring; this port reads with recvmmsg", "dev", dev, "err", err)
	}
	af, err := port.OpenAFPacket(nsPath, dev)
	if err != nil {
		return nil, err
	}
	return af, nil
}
