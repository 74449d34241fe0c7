//go:build linux

package traffic

import (
	"bufio"
	"strings"
	"testing"
	"unsafe"
)

func TestParseNetDev(t *testing.T) {
	const dev = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:       0       0    0    0    0     0          0         0        0       0    0    0    0     0       0          0
  eth0: 6000000  100000    0    3    0     0          0         0     1180      14    0    0    0     0       0          0
`
	n, err := parseNetDev(bufio.NewScanner(strings.NewReader(dev)), "eth0")
	if err != nil || n != 100000 {
		t.Errorf("eth0 rx packets = %d, %v; want 100000", n, err)
	}
	if _, err := parseNetDev(bufio.NewScanner(strings.NewReader(dev)), "eth1"); err == nil {
		t.Error("missing interface not reported")
	}
}

// The kernel reads an array of struct mmsghdr; Go must lay it out alike.
func TestMmsghdrLayout(t *testing.T) {
	if want := unsafe.Sizeof(uintptr(0)) * 8; unsafe.Sizeof(mmsghdr{}) != want && unsafe.Sizeof(uintptr(0)) == 8 {
		t.Errorf("sizeof(mmsghdr) = %d, want %d", unsafe.Sizeof(mmsghdr{}), want)
	}
}
