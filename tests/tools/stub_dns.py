#!/usr/bin/env python3
"""stub_dns.py - a tiny DNS server on loopback for wsbalancer tests.

    stub_dns.py --listen 127.0.0.153 [--port 53] --suffix .wsb.test --ready-file F [--silent]

Answers UDP queries: a name ending in SUFFIX gets A 127.0.0.1 (and an empty
answer for other types); any other name gets NXDOMAIN.  With --silent it
answers nothing at all (a resolver that hangs).  Binds loopback only.
Tests run the probe with a resolv.conf naming this server, then stop it to
take the resolver away.  SIGTERM exits with status 0.
"""
import argparse
import ipaddress
import os
import signal
import socket
import struct
import sys


def qname(packet, off):
    labels = []
    while True:
        n = packet[off]
        off += 1
        if n == 0:
            return ".".join(labels), off
        if n & 0xC0:
            raise ValueError("compression in a question")
        labels.append(packet[off:off + n].decode("ascii", "replace"))
        off += n


def answer(packet, suffix):
    qid, flags, qd = struct.unpack(">HHH", packet[:6])
    if qd != 1:
        raise ValueError("one question expected")
    name, end = qname(packet, 12)
    qtype, _qclass = struct.unpack(">HH", packet[end:end + 4])
    question = packet[12:end + 4]
    ours = name.lower().endswith(suffix)
    rcode = 0 if ours else 3
    records = b""
    count = 0
    if ours and qtype == 1:
        records = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 5, 4) + socket.inet_aton("127.0.0.1")
        count = 1
    head = struct.pack(">HHHHHH", qid, 0x8180 | rcode | (flags & 0x0100), 1, count, 0, 0)
    return head + question + records


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", required=True)
    ap.add_argument("--port", type=int, default=53)
    ap.add_argument("--suffix", required=True)
    ap.add_argument("--ready-file")
    ap.add_argument("--silent", action="store_true")
    a = ap.parse_args()
    if not ipaddress.ip_address(a.listen).is_loopback:
        sys.exit("stub_dns.py: --listen must be a loopback address")
    suffix = a.suffix.lower()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((a.listen, a.port))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if a.ready_file:
        with open(a.ready_file + ".tmp", "w") as f:
            f.write(str(os.getpid()))
        os.rename(a.ready_file + ".tmp", a.ready_file)
    while True:
        packet, peer = s.recvfrom(512)
        if a.silent:
            continue
        try:
            s.sendto(answer(packet, suffix), peer)
        except (ValueError, IndexError, struct.error):
            continue


if __name__ == "__main__":
    main()
