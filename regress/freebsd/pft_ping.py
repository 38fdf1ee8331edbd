#!/usr/bin/python3
"""pft_ping.py for FreeBSD's pf tests: send one probe, watch where it shows up.

regress/freebsd/case bind-mounts this file over the corpus's
tests/sys/netpfil/common/pft_ping.py in the case's mount namespace: the
corpus's copy is older than the scripts (it has neither --ping-type=tcp3way
|udp nor --send-sport, and needs a sniffer.py the corpus does not carry).
Written from what the scripts expect of the tool:

  --sendif IF --to ADDR [--fromaddr ADDR]      where and what to send
  --ping-type icmp|tcpsyn|tcp3way|udp          (default icmp)
  --recvif IF...    the probe must arrive on each of these (forwarded)
  --replyif IF...   the answer must arrive on each of these
  --send-* / --expect-*  fields set in the probe / required where it is seen

Exit status: 0 when every watched interface saw exactly one matching packet
within 3 seconds; otherwise bit N is set for the Nth interface that did not
(recvif ones first, then replyif), so one failed check exits 1.

The probes: ICMP echo (id 0, seq 0: every probe belongs to the same flow)
with a payload of the magic 42c0ffee repeated; TCP SYN to port 9 with the
options Timestamp and MSS (1280 unless --send-mss), from --send-sport (4000
by default); tcp3way: the SYN, and when the SYN+ACK comes back, the ACK that
completes the handshake (3 packets, nothing after); UDP to port 9 with the
payload. All checksums of a matched packet must be right.
"""

import argparse
import logging
import math
import sys
import threading
import time

logging.getLogger("scapy").setLevel(logging.CRITICAL)
import scapy.all as sp  # noqa: E402

MAGIC = bytes.fromhex("42c0ffee")
DPORT = 9
LOG = logging.getLogger("pft_ping")
TIMEOUT = 3.0


def payload(n):
    return (MAGIC * math.ceil(n / len(MAGIC)))[:n]


def v6(a):
    return a is not None and ":" in a


def ip_layer(dst, p):
    if v6(dst):
        ip = sp.IPv6(dst=dst)
        if p.fromaddr:
            ip.src = p.fromaddr
        if p.send_hlim:
            ip.hlim = p.send_hlim
        if p.send_tc is not None:
            ip.tc = p.send_tc
        return ip
    ip = sp.IP(dst=dst, options=b"\x00" if p.send_nop else b"")
    if p.fromaddr:
        ip.src = p.fromaddr
    if p.send_flags:
        ip.flags = p.send_flags
    if p.send_hlim:
        ip.ttl = p.send_hlim
    if p.send_tc is not None:
        ip.tos = p.send_tc
    return ip


def syn_options(p):
    opts = [("Timestamp", (1, 1)), ("MSS", p.send_mss or 1280)]
    if p.send_tcpopt_unaligned:
        opts = [("NOP", None)] + opts
    return opts


class Probe:
    def __init__(self, p):
        self.p = p
        self.seq = p.send_seq if p.send_seq is not None else 1000
        self.sport = p.send_sport or 4000
        self.acked = threading.Event()

    def packets(self):
        p = self.p
        ip = ip_layer(p.to, p)
        if p.ping_type == "icmp":
            data = payload(p.send_length)
            if v6(p.to):
                l4 = sp.ICMPv6EchoRequest(data=data)
            else:
                l4 = sp.ICMP(type="echo-request") / sp.Raw(data)
        elif p.ping_type in ("tcpsyn", "tcp3way"):
            l4 = sp.TCP(sport=self.sport, dport=DPORT, flags="S", seq=self.seq,
                        options=syn_options(p))
        else:
            l4 = sp.UDP(sport=self.sport, dport=DPORT) / sp.Raw(payload(p.send_length))
        if not p.send_frag_length:
            pkts = [ip / l4]
        elif v6(p.to):
            pkts = sp.fragment6(ip / sp.IPv6ExtHdrFragment() / l4, p.send_frag_length)
        else:
            pkts = sp.fragment(ip / l4, fragsize=p.send_frag_length)
        return [sp.Ether() / x for x in pkts]

    def ack(self, synack):
        """tcp3way: answer the SYN+ACK."""
        if self.acked.is_set():
            return
        self.acked.set()
        p = self.p
        tcp = synack[sp.TCP]
        ip = ip_layer(p.to, p)
        if v6(p.to):
            ip.tc = 0 if p.send_tc is None else p.send_tc
        ack = ip / sp.TCP(sport=self.sport, dport=DPORT, flags="A", seq=self.seq + 1,
                          ack=tcp.seq + 1)
        sp.sendp(sp.Ether() / ack, iface=p.sendif, verbose=False)


def good_ip_checksum(ip):
    raw = bytes(ip)
    hl = (raw[0] & 0xF) * 4
    return sp.checksum(raw[:hl]) == 0


def check_ip(exp, pkt, src=None, dst=None):
    if v6(src or dst):
        ip = pkt.getlayer(sp.IPv6)
        if ip is None:
            return None
        if src and ip.src != src or dst and ip.dst != dst:
            return None
        if exp.expect_hlim and ip.hlim != exp.expect_hlim:
            LOG.debug("hop limit %s, expected %s", ip.hlim, exp.expect_hlim)
            return None
        if exp.expect_tc is not None and ip.tc != exp.expect_tc:
            LOG.debug("traffic class %s, expected %s", ip.tc, exp.expect_tc)
            return None
        return ip
    ip = pkt.getlayer(sp.IP)
    if ip is None:
        return None
    if src and ip.src != src or dst and ip.dst != dst:
        return None
    if not good_ip_checksum(ip):
        LOG.debug("bad IPv4 header checksum")
        return None
    if exp.expect_flags and ip.flags != sp.IP(flags=exp.expect_flags).flags:
        LOG.debug("IP flags %s, expected %s", ip.flags, exp.expect_flags)
        return None
    if exp.expect_tc is not None and ip.tos != exp.expect_tc:
        LOG.debug("ToS %s, expected %s", ip.tos, exp.expect_tc)
        return None
    if exp.expect_hlim and ip.ttl != exp.expect_hlim:
        LOG.debug("TTL %s, expected %s", ip.ttl, exp.expect_hlim)
        return None
    return ip


def good_l4_checksum(ip, layer):
    """The TCP or UDP checksum of a sniffed packet is right."""
    l4 = ip.getlayer(layer)
    raw = bytearray(bytes(l4))
    off = 16 if layer is sp.TCP else 6
    raw[off:off + 2] = b"\0\0"
    proto = 6 if layer is sp.TCP else 17
    if isinstance(ip, sp.IPv6):
        want = sp.in6_chksum(proto, l4.underlayer, bytes(raw))
    else:
        want = sp.in4_chksum(proto, ip, bytes(raw))
    if layer is sp.UDP and want == 0:
        want = 0xFFFF
    return want == l4.chksum


def check(exp, kind, ping_type, pkt):
    """Is pkt the probe (kind "request", seen going to --to) or its answer
    (kind "reply", coming from --to)?"""
    src, dst = (None, exp.to) if kind == "request" else (exp.to, None)
    ip = check_ip(exp, pkt, src=src, dst=dst)
    if ip is None:
        return False
    want = payload(exp.send_length)
    if ping_type == "icmp":
        if v6(exp.to):
            cls = sp.ICMPv6EchoRequest if kind == "request" else sp.ICMPv6EchoReply
            icmp = ip.getlayer(cls)
            return icmp is not None and bytes(icmp.data) == want
        icmp = ip.getlayer(sp.ICMP)
        if icmp is None or icmp.type != (8 if kind == "request" else 0):
            return False
        raw = ip.getlayer(sp.Raw)
        return raw is not None and bytes(raw.load) == want
    if ping_type == "udp":
        udp = ip.getlayer(sp.UDP)
        if udp is None:
            return False
        raw = udp.getlayer(sp.Raw)
        return raw is not None and bytes(raw.load) == want and good_l4_checksum(ip, sp.UDP)
    tcp = ip.getlayer(sp.TCP)
    if tcp is None:
        return False
    flags = "S" if kind == "request" else "SA"
    if str(tcp.flags) != flags:
        return False
    if not good_l4_checksum(ip, sp.TCP):
        LOG.debug("bad TCP checksum")
        return False
    if exp.expect_seq is not None:
        seq = tcp.seq if kind == "request" else tcp.ack - 1
        if seq != exp.expect_seq:
            LOG.debug("sequence number %s, expected %s", seq, exp.expect_seq)
            return False
    if exp.expect_mss:
        mss = [v for k, v in tcp.options if k == "MSS"]
        if mss and mss[0] != exp.expect_mss or not mss:
            LOG.debug("MSS %s, expected %s", mss, exp.expect_mss)
            return False
    return True


class Watch:
    def __init__(self, iface, kind, args, probe):
        self.iface = iface
        self.kind = kind
        self.args = args
        self.probe = probe
        self.matched = 0
        self.started = threading.Event()
        self.sniffer = None

    def on_packet(self, pkt):
        try:
            ok = check(self.args, self.kind, self.args.ping_type, pkt)
        except Exception as e:  # a packet scapy cannot take apart is not ours
            LOG.debug("%s: %s", self.iface, e)
            ok = False
        if ok:
            self.matched += 1
            LOG.debug("%s: %s matched", self.iface, self.kind)
            if self.args.ping_type == "tcp3way" and self.kind == "reply":
                self.probe.ack(pkt)
        return ok and not self.args.send_frag_length

    def start(self):
        kw = {}
        if self.args.send_frag_length:
            kw["session"] = sp.IPSession
        self.sniffer = sp.AsyncSniffer(iface=self.iface, store=False, prn=None,
                                       lfilter=None, stop_filter=self.on_packet,
                                       timeout=TIMEOUT,
                                       started_callback=self.started.set, **kw)
        self.sniffer.start()

    def wait(self):
        self.sniffer.join()


def parse():
    ap = argparse.ArgumentParser("pft_ping.py", description=__doc__.split("\n")[0])
    ap.add_argument("--sendif", required=True)
    ap.add_argument("--to", required=True)
    ap.add_argument("--fromaddr")
    ap.add_argument("--ping-type", choices=("icmp", "tcpsyn", "tcp3way", "udp"),
                    default="icmp")
    ap.add_argument("--recvif", nargs="+")
    ap.add_argument("--replyif", nargs="+")
    ap.add_argument("--send-flags")
    ap.add_argument("--send-frag-length", type=int)
    ap.add_argument("--send-hlim", type=int)
    ap.add_argument("--send-mss", type=int)
    ap.add_argument("--send-seq", type=int)
    ap.add_argument("--send-sport", type=int)
    ap.add_argument("--send-length", type=int, default=len(MAGIC))
    ap.add_argument("--send-tc", type=int)
    ap.add_argument("--send-tcpopt-unaligned", action="store_true")
    ap.add_argument("--send-nop", action="store_true")
    ap.add_argument("--expect-flags")
    ap.add_argument("--expect-hlim", type=int)
    ap.add_argument("--expect-mss", type=int)
    ap.add_argument("--expect-seq", type=int)
    ap.add_argument("--expect-tc", type=int)
    ap.add_argument("-v", "--verbose", action="store_true")
    return ap.parse_args()


def main():
    args = parse()
    logging.basicConfig(format="%(message)s")
    if args.verbose:
        LOG.setLevel(logging.DEBUG)
    # FreeBSD's tool treats 0 like "not given" for these.
    for k in ("send_hlim", "send_mss", "expect_hlim", "expect_mss"):
        if getattr(args, k) == 0:
            setattr(args, k, None)
    if not (args.recvif or args.replyif):
        sys.exit("pft_ping.py: --recvif or --replyif is needed")
    probe = Probe(args)
    pkts = probe.packets()
    watches = [Watch(i, "request", args, probe) for i in args.recvif or []]
    watches += [Watch(i, "reply", args, probe) for i in args.replyif or []]
    for w in watches:
        w.start()
    for w in watches:
        w.started.wait(5)
    for pkt in pkts:
        sp.sendp(pkt, iface=args.sendif, verbose=False)
    err = 0
    for n, w in enumerate(watches):
        w.wait()
        if w.matched != 1:
            err |= 1 << n
            LOG.debug("%s: %d matching %s packets", w.iface, w.matched, w.kind)
    sys.exit(err)


if __name__ == "__main__":
    main()
