#!/usr/bin/env python3
"""shim/pfctl: FreeBSD's pfctl command line on this project's pfctl.

- Rulesets loaded with -f (a file or -) go through pfconf.translate()
  (FreeBSD's pf.conf forms to OpenBSD's); the translated text reaches pfctl
  on its standard input, every line at its original number.
- -s c / -sc (FreeBSD only: the creator ids of the states) is answered from
  the creatorid fields of `pfctl -vvss`, which carry the same thing.
- Output adjustments, only for the cases regress/freebsd/adjust names
  (FBSD_CASE is the case being run), each an OpenBSD-to-FreeBSD change of
  wording where the two pfctls print the same fact differently:
    keep-state  -s rules: FreeBSD prints "keep state" on every rule that
                keeps state; OpenBSD only when the state has options.
    table-zeroed  -T show -vv: an address whose counters were zeroed
                (-T zero) has no counter lines on OpenBSD (its counters
                are freed until the next packet); FreeBSD prints them as 0.
    table-match-as-pass  -T show -vv: OpenBSD counts a table's hits by
                match rules under Match, FreeBSD (which has no such
                counter) under Pass.
    map-failed  -s info: OpenBSD's counter of packets no translation
                address could be found for is "translate", FreeBSD's
                "map-failed".
    route-map-failed  -s info: OpenBSD counts a packet whose route-to
                pool has no address to pick under "no-route"
                (pf_create_state's pf_set_rt_ifp failure), FreeBSD under
                "map-failed".
    src-nodes   -s Sources: OpenBSD's pfctl prints a source node as
                "ADDR [nat-to|rdr-to|route-to RADDR] ( states ...)" and
                "age ..., rule N"; FreeBSD's as "ADDR -> RADDR ( states
                ...)" (the unspecified address without a translation) and
                "age ..., filter rule N, TYPE", TYPE named after the node's
                kind ("limit source-track" for OpenBSD's plain nodes,
                "NAT/RDR sticky-address", "route sticky-address").
    translation-rule-numbers  -s states: FreeBSD keeps nat/rdr/binat
                rules in rulesets of their own and numbers the filter
                rules from 0; pfconf.py made them match rules at the top
                of the one ruleset, so a state's "rule N" is N minus the
                number of those leading translation match rules.
- -x none|urgent|misc|loud (FreeBSD's debug level names) are given to pfctl
  as OpenBSD's syslog names (see pfconf.DEBUG_LEVELS).
Everything else goes to pfctl unchanged, and pfctl's own errors stand.
"""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pfconf  # noqa: E402

PFCTL = os.path.join(os.environ["FBSD_BIN"], "pfctl")
# pfctl's options that take an argument (FreeBSD's and OpenBSD's).
WITH_ARG = set("aDfFiIkKLoOpstTxV")


def split(argv):
    """getopt-style: a list of (option, value) and operands."""
    opts = []
    operands = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            operands += argv[i + 1:]
            break
        if a.startswith("-") and len(a) > 1:
            j = 1
            while j < len(a):
                c = a[j]
                if c in WITH_ARG:
                    if j + 1 < len(a):
                        opts.append((c, a[j + 1:]))
                    elif i + 1 < len(argv):
                        i += 1
                        opts.append((c, argv[i]))
                    else:
                        opts.append((c, None))
                    break
                opts.append((c, None))
                j += 1
        else:
            operands.append(a)
        i += 1
    return opts, operands


AFTER_STATE = (" fragment", " allow-opts", " label ", " once", " tag ", " tagged ",
               " ! tagged ", " rtable ", " divert-", " nat-to ", " rdr-to ", " binat-to ",
               " af-to ", " route-to ", " reply-to ", " dup-to ", " # expired",
               " scrub (", " probability ")


def keep_state(line):
    m = re.match(r"^(\s*(?:@\d+ )?)pass ", line)
    if not m or re.search(r" (no|keep|modulate|synproxy) state", line):
        return line
    cut = min([line.find(t) for t in AFTER_STATE if line.find(t) > 0] + [len(line)])
    return line[:cut] + " keep state" + line[cut:]


STAT = re.compile(r"^\t(In|Out)/(\w+):\s+\[ Packets: (\d+)\s+Bytes: (\d+)\s+\]$")


def stat_line(d, op, pk, by):
    return f"\t{d + '/' + op + ':':<13}[ Packets: {pk:<18} Bytes: {by:<18} ]"


def table_show(text, adj):
    out = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        out.append(line)
        if line.startswith("\tCleared:"):
            block = []
            j = i + 1
            while j < len(lines) and STAT.match(lines[j]):
                block.append(STAT.match(lines[j]).groups())
                j += 1
            if not block and "table-zeroed" in adj:
                block = [(d, op, "0", "0") for d in ("In", "Out")
                         for op in ("Block", "Match", "Pass", "XPass")]
            if "table-match-as-pass" in adj:
                match = {d: (int(pk), int(by)) for d, op, pk, by in block if op == "Match"}
                block = [(d, op, str(int(pk) + match.get(d, (0, 0))[0]) if op == "Pass" else pk,
                          str(int(by) + match.get(d, (0, 0))[1]) if op == "Pass" else by)
                         for d, op, pk, by in block if op != "Match"]
            out += [stat_line(*b) for b in block]
            i = j
            continue
        i += 1
    return "\n".join(out)


SN_FIRST = re.compile(r"^(\S+)(?: (nat-to|rdr-to|route-to) (\S+))? (\( states .*)$")
SN_TYPES = {None: "limit source-track", "nat-to": "NAT/RDR sticky-address",
            "rdr-to": "NAT/RDR sticky-address", "route-to": "route sticky-address"}


def src_nodes(text):
    out = []
    kind = None
    for line in text.split("\n"):
        m = SN_FIRST.match(line)
        if m:
            addr, kind, raddr, rest = m.groups()
            if raddr is None:
                raddr = "::" if ":" in addr else "0.0.0.0"
            out.append(f"{addr} -> {raddr} {rest}")
        elif line.startswith("   age "):
            line = re.sub(r", rule (\d+)$", r", filter rule \1", line)
            out.append(f"{line}, {SN_TYPES[kind]}")
        else:
            out.append(line)
    return "\n".join(out)


def adjustments():
    case = os.environ.get("FBSD_CASE", "")
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "adjust")
    out = set()
    try:
        for line in open(path):
            line = line.split("#", 1)[0].strip()
            if line:
                k, _, a = line.partition("\t")
                if k == case:
                    out.update(a.split())
    except OSError:
        pass
    return out


def main():
    argv = sys.argv[1:]
    opts, operands = split(argv)
    files = [v for o, v in opts if o == "f"]
    shows = [v for o, v in opts if o == "s"]
    if shows == ["c"] or shows == ["creatorids"]:
        p = subprocess.run([PFCTL, "-vvss"], capture_output=True, text=True)
        sys.stderr.write(p.stderr)
        if p.returncode != 0:
            return p.returncode
        seen = []
        for m in re.finditer(r"creatorid: ([0-9a-f]{8})", p.stdout):
            if m.group(1) not in seen:
                seen.append(m.group(1))
        for c in seen:
            print(c)
        return 0
    if any(o == "x" and v in pfconf.DEBUG_LEVELS for o, v in opts) and not files:
        argv = []
        for o, v in opts:
            argv.append("-" + o)
            if v is not None:
                argv.append(pfconf.DEBUG_LEVELS.get(v, v) if o == "x" else v)
        argv += operands
    adj = adjustments()
    if "keep-state" in adj and any(v and "rules".startswith(v) for v in shows):
        p = subprocess.run([PFCTL] + argv, capture_output=True, text=True)
        sys.stderr.write(p.stderr)
        for line in p.stdout.splitlines():
            print(keep_state(line))
        return p.returncode
    if adj & {"map-failed", "route-map-failed"} and any(v and "info".startswith(v) for v in shows):
        p = subprocess.run([PFCTL] + argv, capture_output=True, text=True)
        sys.stderr.write(p.stderr)
        old = "no-route  " if "route-map-failed" in adj else "translate "
        sys.stdout.write(re.sub(r"(?m)^  " + old, "  map-failed", p.stdout))
        return p.returncode
    if "src-nodes" in adj and any(v and (v == "S" or "Sources".startswith(v)) for v in shows):
        p = subprocess.run([PFCTL] + argv, capture_output=True, text=True)
        sys.stderr.write(p.stderr)
        sys.stdout.write(src_nodes(p.stdout))
        return p.returncode
    if "translation-rule-numbers" in adj and any(v and "states".startswith(v) for v in shows):
        r = subprocess.run([PFCTL, "-sr"], capture_output=True, text=True)
        k = 0
        for line in r.stdout.splitlines():
            if not (line.startswith("match ") and
                    re.search(r" (nat-to|rdr-to|binat-to) ", line + " ")):
                break
            k += 1
        p = subprocess.run([PFCTL] + argv, capture_output=True, text=True)
        sys.stderr.write(p.stderr)
        sys.stdout.write(re.sub(r", rule (\d+)",
                                lambda m: f", rule {int(m.group(1)) - k}"
                                if int(m.group(1)) >= k else m.group(0), p.stdout))
        return p.returncode
    tshow = any(o == "T" and v and "show".startswith(v) for o, v in opts)
    if tshow and adj & {"table-zeroed", "table-match-as-pass"}:
        p = subprocess.run([PFCTL] + argv, capture_output=True, text=True)
        sys.stderr.write(p.stderr)
        sys.stdout.write(table_show(p.stdout, adj))
        return p.returncode
    if len(files) != 1:
        os.execv(PFCTL, [PFCTL] + argv)
    f = files[0]
    if f == "-":
        text = sys.stdin.read()
    else:
        try:
            with open(f) as fh:
                text = fh.read()
        except OSError as e:
            sys.stderr.write(f"pfctl: {f}: {e.strerror}\n")
            return 1
    new = []
    for o, v in opts:
        new.append("-" + o)
        if v is not None:
            if o == "x":
                v = pfconf.DEBUG_LEVELS.get(v, v)
            new.append(v if o != "f" else "-")
    p = subprocess.run([PFCTL] + new + operands, input=pfconf.translate(text), text=True)
    return p.returncode


if __name__ == "__main__":
    sys.exit(main())
