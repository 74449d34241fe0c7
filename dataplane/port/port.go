package port

// Port is one way frames enter and leave vswitchd. Every buffer starts with a
// virtio_net_hdr (header.VirtioNetHdrLen bytes) followed by the Ethernet
// frame, so a GSO super-frame read from one port is written to another
// unchanged.
//
// Ports are driven by the dataplane's workers: a worker waits on Fd with epoll
// and, when it is readable, calls ReadBatch until it returns 0. Any worker may
// call WriteBatch, concurrently with others.
type Port interface {
	// Fd is a pollable descriptor: readable when ReadBatch has frames.
	Fd() int
	// ReadBatch fills bufs[i][:sizes[i]] with up to len(bufs) frames without
	// blocking and returns how many; 0 and nil when none is waiting. Each
	// buffer must hold BufSize bytes.
	ReadBatch(bufs [][]byte, sizes []int) (int, error)
	// WriteBatch sends each frame (virtio_net_hdr + Ethernet) and returns how
	// many left. A frame the device refuses is counted by the caller as a tx
	// drop; WriteBatch never blocks.
	WriteBatch(bufs [][]byte) (int, error)
	// Close releases the descriptor. It does not delete a persistent device.
	Close() error
}

// BufSize is the size of every receive buffer: the largest GSO super-frame a
// TAP or AF_PACKET socket hands over (64 KiB of IP packet plus an Ethernet
// header) and its virtio_net_hdr, rounded up.
const BufSize = 65536 + 256
