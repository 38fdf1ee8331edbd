#!/usr/bin/env python3
"""FreeBSD commands on Linux, for FreeBSD's pf test scripts.

regress/freebsd/shim/<name> runs `fbsd.py <name> ARGS...`. Each command takes
the FreeBSD command line the corpus scripts use and does the same thing with
iproute2, iputils, ethtool, carpctl (carp and pfsync interfaces) and the
Linux kernel's interfaces; output is in FreeBSD's format where the scripts
parse it (ifconfig, ping's summary, sysctl, wc). The mapping is documented
in regress/freebsd/README.shims; what cannot be mapped fails loudly (exit 1
and a message naming the FreeBSD feature), never silently.

Environment (set by regress/freebsd/case and shim/jexec):
  FBSD_RUN   per-case state directory (interface numbering, pfd sockets, logs)
  FBSD_JAIL  the jail (network namespace) the command runs in; empty = host
  PF_SOCKET  pfd's control socket for this jail
"""

import datetime
import fcntl
import ipaddress
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
RUN = os.environ.get("FBSD_RUN", "/tmp")
JAIL = os.environ.get("FBSD_JAIL", "")


def die(msg, code=1):
    prog = os.path.basename(sys.argv[1]) if len(sys.argv) > 1 else "fbsd"
    sys.stderr.write(f"{prog}: {msg}\n")
    sys.exit(code)


def run(cmd, check=False, quiet=False, input=None):
    """Run a command; returns (rc, stdout, stderr)."""
    p = subprocess.run(cmd, input=input, capture_output=True, text=True)
    if p.returncode != 0 and not quiet:
        sys.stderr.write(p.stderr)
    if check and p.returncode != 0:
        sys.exit(1)
    return p.returncode, p.stdout, p.stderr


def ipj(*args):
    rc, out, _ = run(["ip", "-j"] + list(args), quiet=True)
    if rc != 0 or not out.strip():
        return []
    return json.loads(out)


def links():
    return ipj("-d", "link", "show")


def link(name):
    r = ipj("-d", "link", "show", "dev", name)
    return r[0] if r else None


def addrs(name=None):
    if name:
        return ipj("addr", "show", "dev", name)
    return ipj("addr", "show")


def next_unit(cloner):
    """FreeBSD numbers cloned interfaces per host: epair0, epair1, ...
    One counter per case (FBSD_RUN), shared by the host and its jails."""
    os.makedirs(RUN, exist_ok=True)
    path = os.path.join(RUN, f"unit.{cloner}")
    with open(path, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        s = f.read().strip()
        n = int(s) if s else 0
        f.seek(0)
        f.truncate()
        f.write(str(n + 1))
    return n


def is_addr(s, fam=None):
    a = s.split("/")[0].split("%")[0]
    try:
        ip = ipaddress.ip_address(a)
    except ValueError:
        return False
    return fam is None or (fam == "inet") == (ip.version == 4)


def classful(a):
    first = int(a.split(".")[0])
    return 8 if first < 128 else 16 if first < 192 else 24


def mask_len(m):
    if m.startswith("0x"):
        v = int(m, 16)
    else:
        v = int(ipaddress.IPv4Address(m))
    return bin(v).count("1")


# ---------------------------------------------------------------- pfd ----

def pfd_up():
    """Start pfd for this jail if it is not running (shim/pfctl does the
    same); carpctl talks to it."""
    run([os.path.join(HERE, "pfd-up")], check=True)


def pfsyncd_up():
    run([os.path.join(HERE, "pfd-up"), "pfsyncd"], check=True)


def carpctl(args):
    pfd_up()
    p = subprocess.run([os.path.join(os.environ["FBSD_BIN"], "carpctl")] + args)
    return p.returncode


def jail_safe(jail):
    return re.sub(r"[^A-Za-z0-9_.-]", "_", jail or "host")


def pfd_alive(jail):
    """Whether the pfd of `jail` ("" = the host) runs already."""
    try:
        with open(os.path.join(RUN, f"pfd.{jail_safe(jail)}.pid")) as f:
            os.kill(int(f.read().strip()), 0)
        return True
    except (OSError, ValueError):
        return False


def in_jail(jail, cmd):
    """`cmd` in the network namespace of `jail` ("" = the host), with that
    jail's pfd socket."""
    env = dict(os.environ, FBSD_JAIL=jail or "",
               PF_SOCKET=os.path.join(RUN, f"{jail_safe(jail)}.sock"))
    if jail == JAIL:
        pre = []
    elif jail:
        pre = ["ip", "netns", "exec", jail]
    else:
        pre = ["nsenter", "--net=/proc/1/ns/net"]
    return subprocess.run(pre + cmd, env=env, capture_output=True, text=True)


# FreeBSD's cloner puts both ends of an epair into the interface group
# "epair" (set skip on epair, { epair:network }); Linux's veth has no such
# group, and pfd keeps pf's interface groups: the shim adds "epair" with
# carpctl in whichever namespace an epair end is, when that namespace's
# pfd runs, and pfd-up does it for the epairs already there when it starts
# a pfd. The names are listed in $FBSD_RUN/epairs (renames follow).

EPAIRS = os.path.join(RUN, "epairs")


def epair_note(name, old=None):
    """List `name` as an epair end (in place of `old`, renamed, when `old`
    is one)."""
    os.makedirs(RUN, exist_ok=True)
    with open(EPAIRS, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        names = set(f.read().split())
        if old is not None:
            if old not in names:
                return
            names.discard(old)
        names.add(name)
        f.seek(0)
        f.truncate()
        f.write("\n".join(sorted(names)) + "\n")


def is_epair(name):
    try:
        with open(EPAIRS) as f:
            return name in f.read().split()
    except OSError:
        return False


def epair_group(name, jail):
    if not is_epair(name) or not pfd_alive(jail):
        return
    p = in_jail(jail, [os.path.join(os.environ["FBSD_BIN"], "carpctl"),
                       name, "group", "epair"])
    if p.returncode != 0:
        die(f"{name}: cannot put it into group epair: {p.stderr.strip()}")


# ------------------------------------------------------------ ifconfig ----

CLONERS = ("epair", "bridge", "vlan", "lo", "tun", "gif", "pfsync", "carp")


def ifconfig(argv):
    if not argv or argv[0] in ("-a", "-au"):
        return ifconfig_show(None, None)
    if argv[0] == "-l":
        print(" ".join(l["ifname"] for l in links()))
        return 0
    if argv[0] == "-g":
        return carpctl(argv)
    name, args = argv[0], argv[1:]
    if args[:1] == ["create"] or (args and args[-1] == "create" and len(args) == 1):
        return ifconfig_create(name, args[1:])
    if re.fullmatch(r"pfsync\d+", name):
        return ifconfig_pfsync(name, args)
    if re.fullmatch(r"carp\d+", name):
        return carpctl([name] + args)
    if link(name) is None:
        die(f"interface {name} does not exist")
    fam = None
    if args and args[0] in ("inet", "inet6", "link", "ether", "lladdr"):
        if len(args) == 1:
            return ifconfig_show(name, args[0])
        if args[0] in ("inet", "inet6"):
            fam = args.pop(0)
    if not args:
        return ifconfig_show(name, None)
    return ifconfig_set(name, fam, args)


def ifconfig_create(cloner, rest):
    if cloner == "epair":
        n = next_unit("epair")
        a, b = f"epair{n}a", f"epair{n}b"
        run(["ip", "link", "add", a, "type", "veth", "peer", "name", b], check=True)
        for e in (a, b):
            epair_note(e)
            epair_group(e, JAIL)
        print(a)
        return 0
    if cloner == "bridge":
        n = next_unit("bridge")
        br = f"bridge{n}"
        run(["ip", "link", "add", br, "type", "bridge", "stp_state", "0",
             "forward_delay", "0", "mcast_snooping", "0"], check=True)
        print(br)
        return 0
    die(f"{cloner}: cloning this interface type is not mapped to Linux")


def ifconfig_pfsync(name, args):
    for i, a in enumerate(args):
        if a == "version":
            die("pfsync version: FreeBSD's pfsync wire formats (1301, 1400, "
                "1500) do not exist in OpenBSD's pfsync")
        if a in ("syncpeer",) and i + 1 < len(args) and ":" in args[i + 1]:
            die("pfsync over IPv6: OpenBSD's pfsync syncpeer is IPv4 only")
    if not args:
        return carpctl([name])
    if ("syncpeer" in args or "syncdev" in args or "-syncpeer" in args
            or "-syncdev" in args) and "down" not in args and pfsync_up(name):
        # FreeBSD changes the sync peer or device of a running pfsync;
        # OpenBSD (and carpctl) want the interface down for that.
        args = ["down"] + args + (["up"] if "up" not in args else [])
    rc = carpctl([name] + args)
    if rc == 0:
        pfsyncd_up()
    return rc


def pfsync_up(name):
    pfd_up()
    p = subprocess.run([os.path.join(os.environ["FBSD_BIN"], "carpctl"), name],
                       capture_output=True, text=True)
    first = p.stdout.split("\n", 1)[0]
    return bool(re.search(r"flags=[0-9a-f]+<UP[,>]", first))


def carp_name(vhid):
    return f"carp{vhid}"


def ifconfig_set(name, fam, args):
    ops = []           # (op, value) in order
    addr = None        # (family, address-with-prefix)
    alias = False
    delete = False
    carp = {}
    i = 0
    def val():
        nonlocal i
        if i + 1 >= len(args):
            die(f"'{args[i]}' requires argument")
        i += 1
        return args[i]
    while i < len(args):
        a = args[i]
        if a in ("up", "down"):
            ops.append((a, None))
        elif a == "mtu":
            ops.append(("mtu", val()))
        elif a in ("alias", "add"):
            alias = True
        elif a in ("-alias", "delete"):
            delete = True
        elif a == "netmask":
            m = val()
            ops.append(("netmask", mask_len(m)))
        elif a == "prefixlen":
            ops.append(("netmask", int(val())))
        elif a == "broadcast":
            val()
        elif a in ("inet", "inet6") and addr is None:
            fam = a
        elif a == "no_dad":
            pass  # no DAD anywhere (netns-init: accept_dad=0)
        elif a in ("-ifdisabled", "ifdisabled"):
            ops.append(("ifdisabled", a == "ifdisabled"))
        elif a in ("accept_rtadv", "-accept_rtadv", "auto_linklocal",
                   "-auto_linklocal", "-nud", "nud", "-prefer_source"):
            pass  # IPv6 per-interface ND options the cases set in passing
        elif a == "vhid":
            carp["vhid"] = val()
        elif a == "pass":
            carp["pass"] = val()
        elif a == "advskew":
            carp["advskew"] = val()
        elif a == "advbase":
            carp["advbase"] = val()
        elif a == "state":
            carp["state"] = val()
        elif a == "name":
            ops.append(("name", val()))
        elif a == "vnet":
            ops.append(("vnet", val()))
        elif a == "-vnet":
            ops.append(("-vnet", val()))
        elif a == "destroy":
            ops.append(("destroy", None))
        elif a == "group":
            ops.append(("group", val()))
        elif a == "-group":
            ops.append(("-group", val()))
        elif a == "addm":
            ops.append(("addm", val()))
        elif a == "deletem":
            ops.append(("deletem", val()))
        elif a in ("ether", "lladdr", "link"):
            ops.append(("ether", val()))
        elif a in ("txcsum", "-txcsum", "rxcsum", "-rxcsum", "tso", "-tso",
                   "lro", "-lro", "txcsum6", "-txcsum6", "rxcsum6", "-rxcsum6"):
            ops.append(("offload", a))
        elif a in ("-vlanhwtag", "vlanhwtag", "-vlanhwcsum", "vlanhwcsum"):
            pass
        elif a == "description":
            ops.append(("description", val()))
        elif addr is None and (is_addr(a) or "/" in a):
            addr = a
        else:
            die(f"{a}: ifconfig argument not mapped to Linux")
        i += 1

    if carp:
        return ifconfig_carp(name, fam, addr, delete, carp, ops)

    for op, v in ops:
        if op == "destroy":
            rc, _, _ = run(["ip", "link", "del", name])
            return 0 if rc == 0 else 1
        if op == "vnet":
            rc, _, _ = run(["ip", "link", "set", name, "netns", v])
            if rc == 0:
                epair_group(name, v)
            return 0 if rc == 0 else 1
        if op == "-vnet":
            # Back to the test host: PID 1 of the case's PID namespace.
            rc, _, _ = run(["ip", "-n", v, "link", "set", name, "netns", "1"])
            if rc == 0:
                epair_group(name, "")
            return 0 if rc == 0 else 1
        if op == "name":
            l = link(name)
            up = l and "UP" in l.get("flags", [])
            if up:
                run(["ip", "link", "set", name, "down"], check=True)
            run(["ip", "link", "set", name, "name", v], check=True)
            epair_note(v, old=name)
            epair_group(v, JAIL)
            carpdev_renamed(name, v)
            if up:
                run(["ip", "link", "set", v, "up"], check=True)
            print(v)
            name = v

    masklen = None
    for op, v in ops:
        if op == "netmask":
            masklen = v
    if addr is not None:
        if fam is None:
            fam = "inet6" if ":" in addr else "inet"
        if delete:
            rc = addr_delete(name, fam, addr)
        else:
            rc = addr_add(name, fam, addr, masklen, alias)
        if rc != 0:
            return rc
    elif delete:
        die("delete: which address?")

    for op, v in ops:
        if op == "mtu":
            run(["ip", "link", "set", name, "mtu", v], check=True)
        elif op == "ether":
            run(["ip", "link", "set", name, "address", v], check=True)
        elif op == "offload":
            feat = {"txcsum": "tx", "rxcsum": "rx", "tso": "tso", "lro": "lro",
                    "txcsum6": "tx", "rxcsum6": "rx"}[v.lstrip("-")]
            run(["ethtool", "-K", name, feat, "off" if v.startswith("-") else "on"],
                check=True)
        elif op == "ifdisabled":
            run(["/sbin/sysctl", "-q", "-w",
                 f"net.ipv6.conf.{name}.disable_ipv6={1 if v else 0}"], check=True)
        elif op == "addm":
            run(["ip", "link", "set", v, "master", name], check=True)
            run(["ip", "link", "set", v, "up"], check=True)
        elif op == "deletem":
            run(["ip", "link", "set", v, "nomaster"], check=True)
        elif op in ("group", "-group"):
            # FreeBSD interface groups; pfd keeps pf's interface groups
            # and carpctl is its ifconfig (carpctl IF group G).
            rc = carpctl([name, op, v])
            if rc != 0:
                die(f"{name} {op} {v}: interface groups on a real interface "
                    f"need pfd's interface group support (carpctl refused it)")
        elif op == "description":
            run(["ip", "link", "set", name, "alias", v], check=True)
    # FreeBSD brings an interface up when an address is set on it.
    for op, v in ops:
        if op in ("up", "down"):
            run(["ip", "link", "set", name, op], check=True)
    if addr is not None and not delete and ("down", None) not in ops:
        run(["ip", "link", "set", name, "up"], check=True)
    return 0


def slow_neighbours(name):
    """Neighbour entries stay usable for minutes rather than seconds: the
    cases run slower here (pft_ping.py's scapy start) and some block all
    outbound traffic after their first exchange, neighbour probes included,
    which would lose the neighbour (and every reply) in the middle of the
    case: reachable for 5 minutes, and a stale entry in use is probed after
    a minute instead of 5 s. Per interface: Linux has no per-namespace
    default for it, and moving an interface resets it."""
    for f in ("ipv4", "ipv6"):
        for k, v in (("base_reachable_time_ms", "300000"), ("delay_first_probe_time", "60")):
            try:
                with open(f"/proc/sys/net/{f}/neigh/{name}/{k}", "w") as fh:
                    fh.write(v)
            except OSError:
                pass


def addr_add(name, fam, addr, masklen, alias):
    slow_neighbours(name)
    a, _, plen = addr.partition("/")
    if plen:
        # FreeBSD reads the prefix length with strtol: "64up" is 64 (the
        # stored utils.subr writes "/${mask}up").
        m = re.match(r"\d+", plen)
        if not m:
            die(f"{addr}: bad value")
        plen = int(m.group(0))
    elif masklen is not None:
        plen = masklen
    elif fam == "inet":
        plen = classful(a)
    else:
        plen = 64
    if fam == "inet":
        if not alias:
            # Without alias, FreeBSD replaces the interface's first IPv4
            # address.
            cur = [x for x in (addrs(name) or [{}])[0].get("addr_info", [])
                   if x.get("family") == "inet"]
            if cur:
                run(["ip", "addr", "del", f"{cur[0]['local']}/{cur[0]['prefixlen']}",
                     "dev", name], quiet=True)
        cmd = ["ip", "addr", "add", f"{a}/{plen}", "dev", name]
        if plen < 31:
            cmd[4:4] = ["brd", "+"]
    else:
        cmd = ["ip", "-6", "addr", "add", f"{a}/{plen}", "dev", name, "nodad"]
    rc, _, err = run(cmd, quiet=True)
    if rc != 0 and "File exists" not in err:
        sys.stderr.write(err)
        return 1
    return 0


def addr_delete(name, fam, addr):
    a = addr.split("/")[0]
    for x in (addrs(name) or [{}])[0].get("addr_info", []):
        if x.get("local") == a:
            rc, _, _ = run(["ip", "addr", "del", f"{a}/{x['prefixlen']}", "dev", name])
            return 0 if rc == 0 else 1
    die(f"ioctl (SIOCDIFADDR): Can't assign requested address")


def ifconfig_carp(parent, fam, addr, delete, carp, ops):
    """FreeBSD's carp is an address (with a vhid) on the real interface;
    OpenBSD's (and carpctl's) is an interface carpN with a carpdev. The
    vhid names the interface: vhid 10 on if_br0 is carp10, carpdev if_br0."""
    vhid = carp.get("vhid")
    if vhid is None:
        die("carp parameters without vhid")
    cname = carp_name(vhid)
    args = [cname]
    exists = os.path.exists(os.path.join(RUN, "carp", f"{JAIL or 'host'}.{cname}"))
    if addr is not None:
        # carpctl (OpenBSD's ifconfig) takes the family first.
        if fam is None:
            fam = "inet6" if ":" in addr else "inet"
        if "/" not in addr:
            addr += "/32" if fam == "inet" else "/128"
        args += [fam, addr]
        if delete:
            args += ["delete"]
        elif exists:
            args += ["alias"]
    if not exists:
        args += ["vhid", vhid, "carpdev", parent]
    for k in ("pass", "advbase", "advskew", "state"):
        if k in carp:
            args += [k, carp[k]]
    rc = carpctl(args)
    if rc != 0:
        return rc
    if not exists:
        os.makedirs(os.path.join(RUN, "carp"), exist_ok=True)
        open(os.path.join(RUN, "carp", f"{JAIL or 'host'}.{cname}"), "w").close()
        rc = carpctl([cname, "up"])
    return rc


def carpdev_renamed(old, new):
    """FreeBSD's carp addresses belong to their interface and follow it
    when it is renamed; carpctl's carpN names its carpdev: give the carp
    interfaces of this jail whose carpdev was `old` the new name."""
    if not pfd_alive(JAIL):
        return
    for c, (dev, _) in carp_status().items():
        if dev == old and carpctl([c, "carpdev", new]) != 0:
            die(f"{c}: cannot move it to its renamed carpdev {new}")


def flags_of(l):
    names = {"UP": 0x1, "BROADCAST": 0x2, "LOOPBACK": 0x8, "POINTOPOINT": 0x10,
             "RUNNING": 0x40, "NOARP": 0x80, "PROMISC": 0x100, "ALLMULTI": 0x200,
             "SIMPLEX": 0x800, "MULTICAST": 0x8000, "LOWER_UP": 0x1000000}
    fl = list(l.get("flags", []))
    if "UP" in fl and l.get("operstate") in ("UP", "UNKNOWN"):
        fl.append("RUNNING")
    if l.get("link_type") == "ether":
        fl.append("SIMPLEX")
    order = ["UP", "BROADCAST", "LOOPBACK", "POINTOPOINT", "RUNNING", "NOARP",
             "PROMISC", "ALLMULTI", "SIMPLEX", "MULTICAST", "LOWER_UP"]
    fl = [f for f in order if f in fl]
    v = 0
    for f in fl:
        v |= names[f]
    return "flags=%x<%s>" % (v, ",".join(fl))


def carp_status():
    """carpN -> (carpdev, line) from `carpctl -a`."""
    sock = os.environ.get("PF_SOCKET", "")
    if not sock or not os.path.exists(sock):
        return {}
    p = subprocess.run([os.path.join(os.environ["FBSD_BIN"], "carpctl"), "-a"],
                       capture_output=True, text=True)
    res = {}
    cur = None
    for line in p.stdout.splitlines():
        m = re.match(r"^(carp\d+):", line)
        if m:
            cur = m.group(1)
            continue
        m = re.match(r"^\s+carp: (\S+) carpdev (\S+) vhid (\d+) advbase (\d+) advskew (\d+)", line)
        if m and cur:
            res[cur] = (m.group(2), f"\tcarp: {m.group(1)} vhid {m.group(3)} "
                        f"advbase {m.group(4)} advskew {m.group(5)}")
    return res


def ifconfig_show(only, what):
    all_links = links()
    ad = {a["ifname"]: a.get("addr_info", []) for a in addrs()}
    carps = carp_status() if what is None else {}
    shown = 0
    for l in all_links:
        n = l["ifname"]
        if only and n != only:
            continue
        if l.get("linkinfo", {}).get("info_kind") == "macvlan" and re.fullmatch(r"carp\d+", n):
            continue  # shown as carp: lines of its carpdev, as on FreeBSD
        shown += 1
        print(f"{n}: {flags_of(l)} metric 0 mtu {l.get('mtu', 0)}")
        if what in (None, "ether", "link", "lladdr") and l.get("link_type") == "ether":
            print(f"\tether {l.get('address')}")
        for x in ad.get(n, []):
            if x["family"] == "inet" and what in (None, "inet"):
                m = (0xffffffff << (32 - x["prefixlen"])) & 0xffffffff
                s = f"\tinet {x['local']} netmask 0x{m:08x}"
                if x.get("broadcast"):
                    s += f" broadcast {x['broadcast']}"
                print(s)
            elif x["family"] == "inet6" and what in (None, "inet6"):
                a = x["local"]
                if a.startswith("fe80:"):
                    print(f"\tinet6 {a}%{n} prefixlen {x['prefixlen']} scopeid 0x{l['ifindex']:x}")
                else:
                    print(f"\tinet6 {a} prefixlen {x['prefixlen']}")
        for c, (dev, line) in sorted(carps.items()):
            if dev == n:
                print(line)
        if what is None:
            grp = "epair" if is_epair(n) else re.sub(r"\d+[ab]?$", "", n)
            if grp and grp != n:
                print(f"\tgroups: {grp}")
            print(f"\tstatus: {'active' if l.get('operstate') in ('UP', 'UNKNOWN') else 'no carrier'}")
    if only and not shown:
        die(f"interface {only} does not exist")
    return 0


# ---------------------------------------------------------------- route ----

def route(argv):
    args = list(argv)
    hint = []
    while args and args[0] in ("-n", "-q", "-v", "-d", "-t", "-4", "-6"):
        a = args.pop(0)
        if a in ("-4", "-6"):
            hint = [a]  # route(8)'s global address family hint
    if not args:
        die("usage: route command [args]", 64)
    cmd = args.pop(0)
    args = hint + args
    if cmd in ("del",):
        cmd = "delete"
    if cmd not in ("add", "delete", "change", "get"):
        die(f"{cmd}: route command not mapped to Linux")
    fam = None
    kind = None
    iface = None
    fib = None
    rest = []
    while args:
        a = args.pop(0)
        if a in ("-net", "-host"):
            kind = a[1:]
        elif a in ("-inet", "-4"):
            fam = 4
        elif a in ("-inet6", "-6"):
            fam = 6
        elif a in ("-iface", "-interface"):
            if args and not args[0].startswith("-") and not is_addr(args[0]) \
                    and link(args[0]) is not None:
                iface = args.pop(0)
            else:
                iface = True
        elif a == "-ifp":
            iface = args.pop(0)
        elif a == "-fib":
            fib = args.pop(0)
        elif a in ("-netmask",):
            rest.append(("mask", args.pop(0)))
        elif a == "-prefixlen":
            rest.append(("plen", args.pop(0)))
        elif a in ("-static", "-proto1", "-proto2"):
            pass
        elif a in ("-blackhole", "-reject"):
            rest.append(("type", a[1:]))
        else:
            rest.append(("arg", a))
    pos = [v for k, v in rest if k == "arg"]
    if not pos:
        die("route: destination required")
    dest = pos[0]
    gw = pos[1] if len(pos) > 1 else None
    if iface is True:
        iface, gw = gw, None
    if len(pos) > 2:
        rest.append(("mask", pos[2]))
    if fam is None:
        fam = 6 if ":" in dest or (gw and ":" in gw) else 4
    if dest == "default":
        dst = "default"
    else:
        d, _, plen = dest.partition("/")
        for k, v in rest:
            if k == "mask":
                plen = str(mask_len(v)) if fam == 4 else v
            elif k == "plen":
                plen = v
        if fam == 4:
            parts = d.split(".")
            if len(parts) < 4:
                # -net 198.51.100 (classful, partial)
                d = ".".join(parts + ["0"] * (4 - len(parts)))
                if not plen:
                    plen = str(8 * len(parts))
            if not plen:
                plen = "32" if kind != "net" else str(classful(d))
        else:
            if not plen:
                plen = "128" if kind != "net" else "64"
        dst = f"{d}/{plen}"
    ipcmd = ["ip", f"-{fam}", "route",
             {"add": "add", "delete": "del", "change": "replace", "get": "get"}[cmd], dst]
    if cmd == "get":
        rc, out, _ = run(ipcmd)
        print(out, end="")
        return rc
    for k, v in rest:
        if k == "type":
            ipcmd[3:3] = []
            ipcmd.insert(4, "blackhole" if v == "blackhole" else "unreachable")
    if gw and cmd != "delete":
        g, _, scope = gw.partition("%")
        ipcmd += ["via", g]
        if scope:
            ipcmd += ["dev", scope]
    if isinstance(iface, str):
        ipcmd += ["dev", iface]
    if fib is not None and fib != "0":
        ipcmd += ["table", str(int(fib) + 1000)]
    rc, _, err = run(ipcmd, quiet=True)
    what = "net" if dst == "default" or not dst.endswith(("/32", "/128")) else "host"
    if rc != 0:
        e = err.strip().replace("RTNETLINK answers: ", "")
        if "File exists" in e:
            sys.stderr.write(f"route: writing to routing socket: File exists\n")
        elif "No such process" in e:
            sys.stderr.write(f"route: writing to routing socket: No such process\n")
        else:
            sys.stderr.write(f"route: {e}\n")
        print(f"{cmd} {what} {dest}: gateway {gw or iface} fib {fib or 0}: "
              f"{'route already in table' if 'File exists' in e else 'not in table'}")
        return 1
    print(f"{cmd} {what} {dest}" + (f": gateway {gw or iface}" if (gw or iface) else ""))
    return 0


# ----------------------------------------------------------- arp / ndp ----

def route_dev(addr):
    rc, out, _ = run(["ip", "route", "get", addr.split("%")[0]], quiet=True)
    m = re.search(r"\bdev (\S+)", out)
    return m.group(1) if m else None


def neigh_static(addr, mac, fam):
    dev = None
    if "%" in addr:
        addr, dev = addr.split("%", 1)
    dev = dev or route_dev(addr)
    if dev is None:
        die(f"cannot intuit interface index and type for {addr}")
    rc, _, _ = run(["ip", f"-{fam}", "neigh", "replace", addr, "lladdr", mac,
                    "dev", dev, "nud", "permanent"])
    return 0 if rc == 0 else 1


def neigh_delete(addr, fam):
    dev = None
    if "%" in addr:
        addr, dev = addr.split("%", 1)
    found = False
    for n in ipj(f"-{fam}", "neigh", "show"):
        if n.get("dst") == addr and (dev is None or n.get("dev") == dev):
            run(["ip", f"-{fam}", "neigh", "del", addr, "dev", n["dev"]], quiet=True)
            found = True
    if not found:
        sys.stderr.write(f"{addr} ({addr}) -- no entry\n")
        return 1
    print(f"{addr} ({addr}) deleted")
    return 0


def neigh_show(fam):
    for n in ipj(f"-{fam}", "neigh", "show"):
        print(f"? ({n.get('dst')}) at {n.get('lladdr', '(incomplete)')} on {n.get('dev')}")
    return 0


def arp(argv):
    args = [a for a in argv if a != "-n"]
    if args[:1] == ["-s"] and len(args) >= 3:
        return neigh_static(args[1], args[2], 4)
    if args[:1] == ["-d"] and len(args) >= 2:
        return neigh_delete(args[1], 4)
    if args[:1] in (["-a"], ["-an"], []):
        return neigh_show(4)
    die(f"{' '.join(argv)}: arp form not mapped to Linux")


def ndp(argv):
    args = [a for a in argv if a != "-n"]
    if args[:1] == ["-s"] and len(args) >= 3:
        return neigh_static(args[1], args[2], 6)
    if args[:1] == ["-d"] and len(args) >= 2:
        return neigh_delete(args[1], 6)
    if args[:1] in (["-a"], ["-an"], []):
        return neigh_show(6)
    die(f"{' '.join(argv)}: ndp form not mapped to Linux")


# --------------------------------------------------------------- sysctl ----

SYSCTL_FILES = {
    "net.inet.ip.forwarding": "/proc/sys/net/ipv4/ip_forward",
    "net.inet6.ip6.forwarding": "/proc/sys/net/ipv6/conf/all/forwarding",
    "net.inet.ip.ttl": "/proc/sys/net/ipv4/ip_default_ttl",
    "net.inet6.ip6.hlim": "/proc/sys/net/ipv6/conf/all/hop_limit",
}
# FreeBSD kernel features present here: a VIMAGE kernel (namespaces), pf,
# IPv6. IPsec (xfrm, through shim/setkey) when this kernel has the AEAD the
# cases use (see ipsec_feature).
SYSCTL_CONST = {
    "kern.features.vimage": "1",
    "kern.features.inet": "1",
    "kern.features.inet6": "1",
}


def ipsec_feature():
    """kern.features.ipsec: whether an xfrm SA with the cases' algorithm
    (aes-gcm-16, rfc4106(gcm(aes))) can be made; tried in a throw-away
    network namespace."""
    p = subprocess.run(
        ["unshare", "-n", "ip", "xfrm", "state", "add", "src", "192.0.2.1", "dst",
         "192.0.2.2", "proto", "esp", "spi", "0x1000", "mode", "transport", "aead",
         "rfc4106(gcm(aes))", "0x" + "31" * 20, "128"], capture_output=True)
    return p.returncode == 0


def sysctl(argv):
    quiet = value_only = ignore = False
    names = []
    for a in argv:
        if a.startswith("-") and len(a) > 1 and "=" not in a:
            for c in a[1:]:
                if c == "q":
                    quiet = True
                elif c == "n":
                    value_only = True
                elif c == "i":
                    ignore = True
                elif c == "w":
                    pass
                else:
                    die(f"-{c}: sysctl option not mapped")
        else:
            names.append(a)
    rc = 0
    for n in names:
        name, eq, value = n.partition("=")
        if name == "net.inet.carp.preempt":
            if eq:
                r = carpctl(["sysctl", n])
                rc |= r
            else:
                pfd_up()
                p = subprocess.run([os.path.join(os.environ["FBSD_BIN"], "carpctl"),
                                    "sysctl", name], capture_output=True, text=True)
                out = p.stdout.strip()
                print(out.split("=", 1)[1] if value_only and "=" in out else out)
            continue
        if name == "net.fibs":
            # FreeBSD's number of routing tables (fibs); Linux has its
            # routing tables without being told how many.
            if not quiet:
                print(value if eq and value_only else f"{name}: 1 -> {value}" if eq else "1")
            continue
        if name == "kern.features.ipsec" and ipsec_feature():
            SYSCTL_CONST[name] = "1"
        if name in SYSCTL_CONST:
            if eq:
                if not quiet:
                    sys.stderr.write(f"sysctl: oid '{name}' is read only\n")
                rc = 1
            elif not quiet:
                print(SYSCTL_CONST[name] if value_only else f"{name}: {SYSCTL_CONST[name]}")
            continue
        path = SYSCTL_FILES.get(name)
        if path is None:
            if ignore:
                continue
            if not quiet:
                sys.stderr.write(f"sysctl: unknown oid '{name}' (no Linux equivalent mapped)\n")
            rc = 1
            continue
        with open(path) as f:
            old = f.read().strip()
        if eq:
            with open(path, "w") as f:
                f.write(value)
            if name == "net.inet6.ip6.forwarding":
                # FreeBSD's forwarding is per host; Linux's is per interface
                # too, and "all" is copied to every existing interface.
                with open("/proc/sys/net/ipv6/conf/default/forwarding", "w") as f:
                    f.write(value)
            if not quiet:
                print(value if value_only else f"{name}: {old} -> {value}")
        elif not quiet:
            print(old if value_only else f"{name}: {old}")
    return rc


def kldstat(argv):
    # kldstat -q -m MODULE / -n MODULE: which FreeBSD kernel modules this
    # Linux "kernel" has. pf, pfsync and carp are pfd and pfsyncd.
    present = {"pf", "pfsync", "carp", "if_carp", "if_pfsync", "if_epair",
               "if_bridge", "if_lo", "ipsec"}
    mods = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a in ("-m", "-n")]
    quiet = "-q" in argv
    for m in mods:
        if m not in present:
            if not quiet:
                sys.stderr.write(f"kldstat: can't find module {m}: No such file or directory\n")
            return 1
        if not quiet:
            print(f"Id Refs Address Size Name\n 1 1 0 0 {m}")
    return 0


# ----------------------------------------------------------------- ping ----

def ping(argv, six=False):
    """FreeBSD ping(8) on iputils ping. FreeBSD exits 2 when no reply came,
    iputils 1; the flags differ (see README.shims)."""
    out = ["/bin/ping"]
    if six:
        out.append("-6")
    timeout_given = False
    i = 0
    args = list(argv)
    target = None
    while i < len(args):
        a = args[i]
        def val():
            nonlocal i
            i += 1
            if i >= len(args):
                die(f"option requires an argument -- {a[1:]}", 64)
            return args[i]
        if a in ("-4", "-6", "-q", "-n", "-f", "-d", "-v", "-R"):
            out.append(a)
        elif a == "-c":
            out += ["-c", val()]
        elif a == "-t":
            out += ["-w", val()]
            timeout_given = True
        elif a == "-W":
            ms = int(val())
            out += ["-W", str(max(1, (ms + 999) // 1000))]
            timeout_given = True
        elif a == "-S":
            out += ["-I", val()]
        elif a == "-s":
            out += ["-s", val()]
        elif a == "-i":
            out += ["-i", val()]
        elif a == "-m" or a == "-T":
            out += ["-t", val()]
        elif a == "-D":
            out += ["-M", "do"]
        elif a == "-z":
            out += ["-Q", val()]
        elif a == "-p":
            out += ["-p", val()]
        elif a == "-l":
            out += ["-l", val()]
        elif a == "-I":
            out += ["-I", val()]
        elif a == "-o":
            out += ["-c", "1"]
        elif a.startswith("-") and len(a) > 2 and a[1] in "ctWSsimTzpl":
            args[i:i + 1] = [a[:2], a[2:]]
            continue
        elif a.startswith("-"):
            die(f"{a}: ping option not mapped to iputils", 64)
        else:
            target = a
            out.append(a)
        i += 1
    if target is None:
        die("usage: ping [options] host", 64)
    if not timeout_given:
        # FreeBSD waits 10 s for the last reply; on a veth a reply that
        # has not come after 2 s is not coming.
        out += ["-W", "2"]
    p = subprocess.Popen(out, stdout=subprocess.PIPE, text=True, bufsize=1)
    for line in p.stdout:
        line = re.sub(r"^(\d+) packets transmitted, (\d+) received, (?:\+(\d+) errors, )?"
                      r"(\d+(?:\.\d+)?)% packet loss.*$",
                      lambda m: f"{m.group(1)} packets transmitted, {m.group(2)} packets "
                                f"received, {float(m.group(4)):.1f}% packet loss", line.rstrip("\n"))
        line = re.sub(r"^rtt min/avg/max/mdev", "round-trip min/avg/max/stddev", line)
        line = re.sub(r"^From (\S+) icmp_seq=\d+ Frag needed and DF set \(mtu = (\d+)\)",
                      r"92 bytes from \1: frag needed and DF set (MTU \2)", line)
        print(line, flush=True)
    rc = p.wait()
    return 0 if rc == 0 else 2


# ---------------------------------------------------------------- inetd ----

SERVICES = {"echo": 7, "discard": 9, "daytime": 13, "chargen": 19, "time": 37}


def inetd(argv):
    """inetd(8) with its internal services, in the current network
    namespace: -p PIDFILE CONF. Daemonizes once its sockets listen."""
    pidfile = "/var/run/inetd.pid"
    conf = None
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "-p":
            pidfile = argv[i + 1]
            i += 2
            continue
        if a.startswith("-"):
            i += 1
            continue
        conf = a
        i += 1
    if conf is None:
        conf = "/etc/inetd.conf"
    if not os.path.exists(conf):
        # The corpus does not carry the test's inetd.conf files (its README);
        # compat/ has ours, written from what the cases expect of them.
        alt = os.path.join(HERE, "compat", os.path.basename(conf))
        if not os.path.exists(alt):
            die(f"{conf}: No such file or directory")
        conf = alt
    socks = []
    for line in open(conf):
        line = line.split("#", 1)[0].split()
        if not line:
            continue
        if len(line) < 6 or line[5] != "internal":
            die(f"{conf}: only internal services are mapped: {' '.join(line)}")
        svc, stype, proto = line[0], line[1], line[2]
        if svc not in SERVICES:
            die(f"{conf}: internal service {svc} not mapped")
        port = SERVICES[svc]
        fams = {"tcp": [4], "udp": [4], "tcp4": [4], "udp4": [4], "tcp6": [6],
                "udp6": [6], "tcp46": [4, 6], "udp46": [4, 6]}[proto]
        for fam in fams:
            af = socket.AF_INET if fam == 4 else socket.AF_INET6
            st = socket.SOCK_STREAM if stype == "stream" else socket.SOCK_DGRAM
            s = socket.socket(af, st)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if fam == 6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s.bind(("::" if fam == 6 else "0.0.0.0", port))
            if st == socket.SOCK_STREAM:
                s.listen(64)
            socks.append((svc, st, s))
    if os.fork() != 0:
        return 0
    os.setsid()
    if os.fork() != 0:
        os._exit(0)
    with open(pidfile, "w") as f:
        f.write(f"{os.getpid()}\n")
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    for svc, st, s in socks:
        threading.Thread(target=serve, args=(svc, st, s), daemon=True).start()
    while True:
        time.sleep(3600)


def serve(svc, st, s):
    if st == socket.SOCK_DGRAM:
        while True:
            data, peer = s.recvfrom(65536)
            if svc == "echo":
                s.sendto(data, peer)
            elif svc in ("daytime",):
                s.sendto(time.ctime().encode() + b"\r\n", peer)
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve_conn, args=(svc, c), daemon=True).start()


def serve_conn(svc, c):
    try:
        if svc == "daytime":
            c.sendall(time.ctime().encode() + b"\r\n")
            return
        if svc == "time":
            c.sendall(int(time.time() + 2208988800).to_bytes(4, "big"))
            return
        while True:
            data = c.recv(65536)
            if not data:
                return
            if svc == "echo":
                c.sendall(data)
    except OSError:
        pass
    finally:
        c.close()


# ----------------------------------------------------------- date, fetch ---

def date(argv):
    # FreeBSD date -j -f INFMT STRING [+OUTFMT]: parse STRING, print it.
    args = list(argv)
    if "-j" in args or any(a.startswith("-j") for a in args):
        infmt = None
        rest = []
        i = 0
        while i < len(args):
            a = args[i]
            if a in ("-j",):
                pass
            elif a in ("-jf", "-f"):
                infmt = args[i + 1]
                i += 1
            else:
                rest.append(a)
            i += 1
        outfmt = "%a %b %e %H:%M:%S %Z %Y"
        if rest and rest[-1].startswith("+"):
            outfmt = rest.pop()[1:]
        if infmt is None or not rest:
            die("date -j without -f is not mapped", 64)
        t = datetime.datetime.strptime(rest[0], infmt)
        print(time.strftime(outfmt, t.timetuple()) if outfmt != "%s"
              else str(int(time.mktime(t.timetuple()))))
        return 0
    os.execvp("/bin/date", ["date"] + args)


def fetch(argv):
    out = ["curl", "-s", "-S", "-f", "-g", "-L"]
    url = None
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "-T":
            out += ["--max-time", argv[i + 1]]
            i += 1
        elif a == "-o":
            out += ["-o", argv[i + 1]]
            i += 1
        elif a in ("-q",):
            pass
        elif a.startswith("-"):
            die(f"{a}: fetch option not mapped to curl", 64)
        else:
            url = a
        i += 1
    if "-o" not in out:
        out += ["-O"]
    p = subprocess.run(out + [url])
    return 0 if p.returncode == 0 else 1


# ---------------------------------------------------------------- setkey ----

def setkey(argv):
    """setkey -c: the IPsec SA/SP commands (add, spdadd, flush, spdflush)
    on Linux xfrm."""
    if "-c" not in argv:
        die("only setkey -c is mapped")
    text = sys.stdin.read()
    for stmt in text.split(";"):
        w = stmt.split()
        if not w:
            continue
        if w[0] == "flush":
            run(["ip", "xfrm", "state", "flush"], check=True)
        elif w[0] == "spdflush":
            run(["ip", "xfrm", "policy", "flush"], check=True)
        elif w[0] == "spdadd":
            # spdadd SRC DST UPPER -P DIR ipsec PROTO/MODE/SRC-DST/LEVEL
            src, dst = w[1], w[2]
            d = w[w.index("-P") + 1]
            proto, mode, _, level = (w[w.index("-P") + 3].split("/") + ["", "", "", ""])[:4]
            cmd = ["ip", "xfrm", "policy", "add", "src", src, "dst", dst, "dir", d,
                   "tmpl", "proto", proto, "mode", mode,
                   "level", "required" if level in ("require", "") else "use"]
            rc, _, _ = run(cmd)
            if rc:
                return 1
        elif w[0] == "add":
            # add SRC DST esp SPI -E aes-gcm-16 "KEY"
            src, dst, proto, spi = w[1], w[2], w[3], w[4]
            alg = w[w.index("-E") + 1]
            key = stmt.split('"')[1].encode() if '"' in stmt else bytes.fromhex(w[-1][2:])
            if alg != "aes-gcm-16":
                die(f"{alg}: setkey algorithm not mapped")
            cmd = ["ip", "xfrm", "state", "add", "src", src, "dst", dst, "proto", proto,
                   "spi", spi, "mode", "transport", "aead", "rfc4106(gcm(aes))",
                   "0x" + key.hex(), "128"]
            rc, _, _ = run(cmd)
            if rc:
                return 1
        else:
            die(f"{w[0]}: setkey command not mapped")
    return 0


# ------------------------------------------------------------ wc, netstat --

def wc(argv):
    """BSD wc: counts right-aligned in 8 columns (the cases compare
    `wc -l` output with "       0")."""
    p = subprocess.run(["/usr/bin/wc"] + argv, capture_output=True, text=True)
    if p.returncode != 0:
        sys.stderr.write(p.stderr)
        return p.returncode
    for line in p.stdout.splitlines():
        parts = line.split()
        nums = [x for x in parts if x.isdigit()]
        name = parts[len(nums):]
        print("".join(f" {int(x):7d}" for x in nums) + ("".join(" " + n for n in name)))
    return 0


def netstat(argv):
    if "-r" in "".join(argv):
        rc1, o4, _ = run(["ip", "-4", "route", "show", "table", "all"], quiet=True)
        rc2, o6, _ = run(["ip", "-6", "route", "show", "table", "all"], quiet=True)
        print("Routing tables\n\nInternet:\n" + o4 + "\nInternet6:\n" + o6)
        return 0
    os.execvp("ss", ["ss", "-a", "-n"])


# ------------------------------------------------------------------ nc ----

def nc(argv):
    """nc -l for TCP, as FreeBSD's (OpenBSD's) netcat does it: one
    connection; standard input to the peer (then shutdown(2) of the write
    side with -N), the peer's data to standard output, until both inputs
    are at their end or nothing moved for -w seconds. Debian's nc.openbsd
    quits as soon as the peer ends its side and loses what standard input
    still had to send (the cases stream a file to a client that sends
    nothing). Every other form goes to Debian's nc.openbsd (shim/nc)."""
    import select
    fam = None
    half_close = False
    idle = None
    addr = None
    port = None
    pos = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("-l", "-n", "-v", "-D", "-d", "-k"):
            if a == "-k":
                die("nc -k: keeping the listener open is not mapped")
            if a == "-d":
                die("nc -l -d is not mapped")
        elif a == "-N":
            half_close = True
        elif a in ("-4", "-6"):
            fam = a
        elif a in ("-w", "-s", "-p"):
            if i + 1 >= len(argv):
                die(f"option requires an argument -- {a[1]}")
            i += 1
            v = argv[i]
            if a == "-w":
                idle = float(v)
            elif a == "-s":
                addr = v
            else:
                port = v
        elif a.startswith("-"):
            die(f"nc -l {a}: option not mapped")
        else:
            pos.append(a)
        i += 1
    if pos:
        port = pos[-1]
        if len(pos) > 1:
            addr = pos[0]
    if port is None:
        die("nc -l: no port")
    if addr is None:
        af, host = (socket.AF_INET, "0.0.0.0") if fam == "-4" else (socket.AF_INET6, "::")
    else:
        af = socket.AF_INET6 if ":" in addr else socket.AF_INET
        host = addr
    ls = socket.socket(af, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if af == socket.AF_INET6 and addr is None and fam is None:
        ls.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    ls.bind((host, int(port)))
    ls.listen(1)
    conn, _ = ls.accept()
    ls.close()
    fin = sys.stdin.buffer.raw if sys.stdin is not None else None
    fout = sys.stdout.buffer
    stdin_open = fin is not None
    net_open = True
    while stdin_open or net_open:
        r = ([fin] if stdin_open else []) + ([conn] if net_open else [])
        ready, _, _ = select.select(r, [], [], idle)
        if not ready:
            break  # idle for -w seconds
        if stdin_open and fin in ready:
            data = os.read(fin.fileno(), 16384)
            if data:
                try:
                    conn.sendall(data)
                except OSError:
                    stdin_open = False
            else:
                stdin_open = False
                if half_close:
                    try:
                        conn.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
        if net_open and conn in ready:
            try:
                data = conn.recv(16384)
            except OSError:
                data = b""
            if data:
                try:
                    fout.write(data)
                    fout.flush()
                except OSError:
                    pass
            else:
                net_open = False
    conn.close()
    return 0


def main():
    if len(sys.argv) < 2:
        die("usage: fbsd.py command [args]")
    cmd, argv = sys.argv[1], sys.argv[2:]
    table = {
        "ifconfig": ifconfig, "route": route, "arp": arp, "ndp": ndp,
        "sysctl": sysctl, "kldstat": kldstat, "ping": ping,
        "ping6": lambda a: ping(a, six=True), "inetd": inetd, "date": date,
        "fetch": fetch, "setkey": setkey, "wc": wc, "netstat": netstat,
        "nc": nc,
    }
    if cmd not in table:
        die(f"{cmd}: no such command")
    try:
        sys.exit(table[cmd](argv) or 0)
    except BrokenPipeError:
        sys.exit(1)


if __name__ == "__main__":
    main()
