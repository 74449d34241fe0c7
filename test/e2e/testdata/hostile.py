#!/usr/bin/python3
"""Sends one kind of hostile frame COUNT times from inside a container.

usage: hostile.py IFACE SRC_MAC SRC_IP GW_MAC DST_IP CASE COUNT

The frames carry the container's own MAC and IPv4 address (so port
security lets them through to the stage that must judge them), except in
the cases that are about the source MAC. Every frame goes to the gateway's
MAC for DST_IP, a host on another network, so the router parses it.
"""
import sys
from scapy.all import Ether, IP, TCP, UDP, ICMP, ARP, Raw, sendp, conf

conf.verb = 0
iface, smac, sip, gw, dip, case, count = sys.argv[1:8]
count = int(count)
eth = Ether(src=smac, dst=gw)
ping = ICMP(type=8, id=7) / Raw(b"x" * 32)


def raw(pkt):
    return bytes(pkt)


def ipv4(**kw):
    return IP(src=sip, dst=dip, **kw)


frames = {
    # Ethernet header alone: the IPv4 header is missing.
    "trunc-ipv4": lambda: raw(Ether(src=smac, dst=gw, type=0x0800)) + b"\x45\x00",
    "trunc-tcp": lambda: raw(eth / ipv4(proto=6, len=20 + 8)) + b"\x00\x50\x00\x50\x00\x00\x00\x01",
    "trunc-udp": lambda: raw(eth / ipv4(proto=17, len=20 + 4)) + b"\x00\x35\x00\x35",
    "trunc-arp": lambda: raw(Ether(src=smac, dst="ff:ff:ff:ff:ff:ff", type=0x0806)) + b"\x00\x01\x08\x00\x06\x04",
    "ihl-4": lambda: raw(eth / ipv4(ihl=4) / ping),
    "ihl-15": lambda: raw(eth / ipv4(ihl=15) / Raw(b"y" * 8)),
    "len-over": lambda: raw(eth / ipv4(len=400) / ping),
    "len-under": lambda: raw(eth / ipv4(len=10) / ping),
    "bad-csum": lambda: raw(eth / ipv4(chksum=0x1234) / ping),
    "ttl-0": lambda: raw(eth / ipv4(ttl=0) / ping),
    "options": lambda: raw(eth / ipv4(options=[b"\x07\x07\x04\x00\x00\x00\x00"]) / ping),  # record route
    "frag-first": lambda: raw(eth / ipv4(id=99, flags="MF", frag=0, proto=1) / Raw(b"f" * 64)),
    "frag-middle": lambda: raw(eth / ipv4(id=99, flags="MF", frag=8, proto=1) / Raw(b"m" * 64)),
    "frag-overlap": lambda: raw(eth / ipv4(id=99, flags="MF", frag=4, proto=1) / Raw(b"o" * 64)),
    "frag-nofirst": lambda: raw(eth / ipv4(id=98, frag=16, proto=1) / Raw(b"l" * 64)),
    "src-bcast": lambda: raw(Ether(src="ff:ff:ff:ff:ff:ff", dst=gw) / ipv4() / ping),
    "src-mcast": lambda: raw(Ether(src="01:00:5e:00:00:01", dst=gw) / ipv4() / ping),
    "src-zero": lambda: raw(Ether(src="00:00:00:00:00:00", dst=gw) / ipv4() / ping),
    "runt": lambda: raw(Ether(src=smac, dst=gw, type=0x0800)),
    "random": None,
}

if case == "random":
    import random
    rnd = random.Random(11)
    out = [gw.replace(":", "") and bytes.fromhex(gw.replace(":", "")) + bytes.fromhex(smac.replace(":", ""))
           + bytes(rnd.getrandbits(8) for _ in range(rnd.randint(2, 200))) for _ in range(count)]
else:
    f = frames[case]()
    out = [f] * count
sendp(out, iface=iface)
