package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/spf13/cobra"

	"vswitch/api"
)

// capture streams GET /v1/capture/PORT (pcapng, daemon/capture.go). With -w
// the blocks are copied whole to the file, so that one cut by Ctrl-C or
// --count ends on a block boundary and stays readable; without -w each
// packet is printed as one line.
func newCaptureCmd(a *app) *cobra.Command {
	var (
		file  string
		count int
	)
	cmd := &cobra.Command{
		Use:   "capture PORT [-w FILE|-] [--count N]",
		Short: "Capture what a port receives and sends: pcapng to a file (-w FILE, - for stdout) or one line per packet",
		Long: `Capture what a port receives (inbound: its container sent it) and sends
(outbound), as pcapng with the direction in each packet's flags.
-w - writes to stdout: vswitchctl capture c1 -w - | tcpdump -n -r -
GSO super-frames are written as the TCP segments a wire would carry.
Ctrl-C ends the capture; the file is complete up to the last packet.`,
		Args: positional(1, "PORT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if count < 0 {
				return usageErrorf(cmd, "invalid --count %d: give a number of packets, 0 for no limit", count)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return a.capture(ctx, cmd, args[0], file, count)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&file, "write", "w", "", "write pcapng to FILE (- for stdout) instead of printing a line per packet")
	f.IntVar(&count, "count", 0, "stop after N packets (0: until Ctrl-C)")
	return cmd
}

func (a *app) capture(ctx context.Context, cmd *cobra.Command, portName, file string, count int) error {
	// One ordinary request first: its errors (no daemon, no permission)
	// are the ones every other command gives.
	if err := a.do(http.MethodGet, "/version", nil, nil); err != nil {
		return err
	}
	q := url.Values{}
	if count > 0 {
		q.Set("count", fmt.Sprint(count))
	}
	path := "/capture/" + url.PathEscape(portName)
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	body, err := api.NewClient(a.socket).Open(ctx, http.MethodGet, path, nil)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer body.Close()

	var out io.Writer
	var bw *bufio.Writer
	switch file {
	case "":
	case "-":
		out = a.stdout
	default:
		f, err := os.Create(file)
		if err != nil {
			return fmt.Errorf("cannot write the capture: %v", err)
		}
		defer f.Close()
		bw = bufio.NewWriter(f)
		out = bw
	}
	// stdout is flushed after every block so `| tcpdump -r -` shows packets
	// as they come; a file is flushed at the end and on every idle read.
	packets := 0
	rd := bufio.NewReaderSize(body, 1<<20)
	for count == 0 || packets < count {
		blk, err := readBlock(rd)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, io.EOF) || errors.Is(err, context.Canceled) {
				break
			}
			return fmt.Errorf("capture stream from vswitchd broke off: %v", err)
		}
		typ := binary.LittleEndian.Uint32(blk)
		if out != nil {
			if _, err := out.Write(blk); err != nil {
				return fmt.Errorf("cannot write the capture: %v", err)
			}
			if bw != nil && rd.Buffered() == 0 {
				bw.Flush()
			}
		}
		if typ != pcapngEPB {
			continue
		}
		packets++
		if out == nil {
			printPacket(a.stdout, portName, blk)
		}
	}
	if bw != nil {
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("cannot write the capture: %v", err)
		}
	}
	if file != "" {
		fmt.Fprintf(cmd.ErrOrStderr(), "%d packets captured\n", packets)
	}
	return nil
}

const (
	pcapngSHB = 0x0A0D0D0A
	pcapngEPB = 0x00000006
)

// readBlock reads one whole pcapng block. vswitchd writes little-endian.
func readBlock(r io.Reader) ([]byte, error) {
	var hdr [8]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.LittleEndian.Uint32(hdr[4:])
	if n < 12 || n%4 != 0 || n > 16<<20 {
		return nil, fmt.Errorf("bad pcapng block length %d", n)
	}
	blk := make([]byte, n)
	copy(blk, hdr[:])
	if _, err := io.ReadFull(r, blk[8:]); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return blk, nil
}

// printPacket prints one Enhanced Packet Block as a line: time, port,
// direction, MACs, and what the packet is.
func printPacket(w io.Writer, portName string, blk []byte) {
	if len(blk) < 32 {
		return
	}
	ts := int64(uint64(binary.LittleEndian.Uint32(blk[12:]))<<32 | uint64(binary.LittleEndian.Uint32(blk[16:])))
	capLen := int(binary.LittleEndian.Uint32(blk[20:]))
	if 28+capLen > len(blk)-4 {
		return
	}
	data := blk[28 : 28+capLen]
	dir := "?"
	opts := blk[28+(capLen+3)&^3 : len(blk)-4]
	for len(opts) >= 4 {
		code, l := binary.LittleEndian.Uint16(opts), int(binary.LittleEndian.Uint16(opts[2:]))
		if code == 0 || 4+l > len(opts) {
			break
		}
		if code == 2 && l == 4 {
			switch binary.LittleEndian.Uint32(opts[4:]) & 3 {
			case 1:
				dir = "in"
			case 2:
				dir = "out"
			}
		}
		opts = opts[4+(l+3)&^3:]
	}
	t := time.Unix(0, ts).Format("15:04:05.000000")
	fmt.Fprintf(w, "%s %s %-3s %s\n", t, portName, dir, summary(data))
}

// summary says in a few words what a frame is, tcpdump -n -e style.
func summary(data []byte) string {
	p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.DecodeOptions{Lazy: true, NoCopy: true})
	eth, _ := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	if eth == nil {
		return fmt.Sprintf("runt, length %d", len(data))
	}
	macs := fmt.Sprintf("%s > %s", eth.SrcMAC, eth.DstMAC)
	var b strings.Builder
	switch {
	case p.Layer(layers.LayerTypeARP) != nil:
		arp := p.Layer(layers.LayerTypeARP).(*layers.ARP)
		if arp.Operation == layers.ARPRequest {
			fmt.Fprintf(&b, "ARP who-has %s tell %s", net.IP(arp.DstProtAddress), net.IP(arp.SourceProtAddress))
		} else {
			fmt.Fprintf(&b, "ARP reply %s is-at %s", net.IP(arp.SourceProtAddress), net.HardwareAddr(arp.SourceHwAddress))
		}
	case p.Layer(layers.LayerTypeIPv4) != nil:
		ip := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		ipLine(&b, "IP", ip.SrcIP, ip.DstIP, p, int(ip.Length))
	case p.Layer(layers.LayerTypeIPv6) != nil:
		ip := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
		ipLine(&b, "IP6", ip.SrcIP, ip.DstIP, p, int(ip.Length)+40)
	default:
		fmt.Fprintf(&b, "ethertype %#04x", uint16(eth.EthernetType))
	}
	return fmt.Sprintf("%s %s, length %d", macs, b.String(), len(data))
}

func ipLine(b *strings.Builder, fam string, src, dst net.IP, p gopacket.Packet, ipLen int) {
	switch {
	case p.Layer(layers.LayerTypeTCP) != nil:
		t := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		flags := ""
		for _, f := range []struct {
			on bool
			c  string
		}{{t.SYN, "S"}, {t.FIN, "F"}, {t.RST, "R"}, {t.PSH, "P"}, {t.ACK, "."}} {
			if f.on {
				flags += f.c
			}
		}
		fmt.Fprintf(b, "%s %s.%d > %s.%d: TCP [%s] seq %d ack %d len %d", fam, src, t.SrcPort, dst, t.DstPort, flags, t.Seq, t.Ack, len(t.Payload))
	case p.Layer(layers.LayerTypeUDP) != nil:
		u := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
		fmt.Fprintf(b, "%s %s.%d > %s.%d: UDP len %d", fam, src, u.SrcPort, dst, u.DstPort, len(u.Payload))
	case p.Layer(layers.LayerTypeICMPv4) != nil:
		ic := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
		switch ic.TypeCode.Type() {
		case layers.ICMPv4TypeEchoRequest:
			fmt.Fprintf(b, "%s %s > %s: ICMP echo request, id %d, seq %d", fam, src, dst, ic.Id, ic.Seq)
		case layers.ICMPv4TypeEchoReply:
			fmt.Fprintf(b, "%s %s > %s: ICMP echo reply, id %d, seq %d", fam, src, dst, ic.Id, ic.Seq)
		default:
			fmt.Fprintf(b, "%s %s > %s: ICMP %s", fam, src, dst, ic.TypeCode)
		}
	case p.Layer(layers.LayerTypeICMPv6) != nil:
		ic := p.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
		fmt.Fprintf(b, "%s %s > %s: ICMP6 %s", fam, src, dst, ic.TypeCode)
	default:
		fmt.Fprintf(b, "%s %s > %s: length %d", fam, src, dst, ipLen)
	}
}
