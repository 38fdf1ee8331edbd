#!/usr/bin/env python3
"""FreeBSD pf.conf -> OpenBSD pf.conf, for FreeBSD's pf test scripts.

FreeBSD's pf still reads the pre-OpenBSD-4.7 grammar: translation rules
(`nat`, `rdr`, `binat`) and `scrub` rules in rulesets of their own, and
route options written `route-to (IF ADDR)` before the address family.
OpenBSD says the same things with `nat-to`/`rdr-to`/`binat-to` and `scrub
(...)` on match rules, and `route-to ADDR` among the filter options. shim/pfctl
passes every ruleset it loads (`pfctl -f FILE|-`, with or without `-a`)
through translate(); the table REWRITES below is the whole translation,
one entry per FreeBSD form, each with the OpenBSD form and why they mean
the same (README.md, "The freebsd suite", prints it).

Lines keep their numbers (a rule continued with backslashes becomes one
line followed by empty ones), so pfctl's `file:line` errors still point at
the right place. Lines that need no translation are passed on unchanged.
What OpenBSD cannot say (`no nat`, `nat-anchor`, `endpoint-independent`,
`map-e-portset`, `label` twice, `keepcounters`, `prefer-ipv6-nexthop`,
`fragment crop`, ether rules, dummynet, ALTQ, ...) is left alone for pfctl to
refuse: such cases are listed in regress/freebsd/exceptions.
"""

import re
import sys

REWRITES = [
    ("nat [pass] [log] on IF ... -> POOL [opts]",
     "match out [log] on IF ... nat-to POOL [opts]  (pass: pass out quick ...)",
     "FreeBSD's nat rules translate outbound packets and leave the verdict to "
     "the filter rules (nat pass: and skip them), as an OpenBSD match (pass "
     "quick) rule with nat-to does"),
    ("rdr [pass] [log] on IF ... -> POOL [port P] [opts]",
     "match in [log] on IF ... rdr-to POOL [port P] [opts]",
     "the same for inbound redirection"),
    ("binat [pass] [log] on IF ... -> ADDR",
     "match [log] on IF ... binat-to ADDR",
     "bidirectional: pfctl expands binat-to into the outbound nat-to and the "
     "inbound rdr-to rule, as FreeBSD's binat does in one rule"),
    ("scrub [dir] [on IF] ... [fragment reassemble] [opts] [set-tos T]",
     "match [dir] [on IF] ... scrub (opts) [set tos T]; nothing for "
     "'fragment reassemble'",
     "FreeBSD normalizes in scrub rules; OpenBSD in scrub (...) options of "
     "match rules (set-tos is the rule option set tos there), and reassembles "
     "fragments by default (set reassemble yes)"),
    ("pass/block ... route-to|reply-to|dup-to (IF ADDR) [pool opts] af proto ...",
     "pass/block ... af proto ... route-to|reply-to|dup-to ADDR [pool opts]",
     "OpenBSD (6.9 and later) takes the gateway only and finds the interface "
     "by a route lookup; the cases' gateways are on the named interface. A "
     "pool { (IF1 A) (IF2 B) } becomes { A, B }, (IF <table>) becomes <table>"),
    ("set fail-policy drop|return",
     "(removed)",
     "FreeBSD's reaction to pf's own failures (out of memory); no case "
     "provokes one, and OpenBSD always drops"),
    ("set debug none|urgent|misc|loud",
     "set debug emerg|err|notice|debug",
     "FreeBSD kept pf's old debug level names; OpenBSD uses syslog's"),
    ("... ridentifier N",
     "(removed)",
     "FreeBSD's rule identifier only appears in pflog and pfsync records"),
]

SPECIAL = "{}(),"
# FreeBSD's pf debug levels (pfctl -x, set debug) and OpenBSD's syslog ones.
DEBUG_LEVELS = {"none": "emerg", "urgent": "err", "misc": "notice", "loud": "debug"}


def tokenize(s):
    """Split a logical line into tokens, keeping quoted strings and <table>
    names whole; returns (tokens, comment)."""
    toks = []
    i = 0
    n = len(s)
    while i < n:
        c = s[i]
        if c.isspace():
            i += 1
        elif c == "#":
            return toks, s[i:]
        elif c in "\"'":
            j = i + 1
            while j < n and s[j] != c:
                j += 2 if s[j] == "\\" else 1
            toks.append(s[i:j + 1])
            i = j + 1
        elif c in SPECIAL:
            toks.append(c)
            i += 1
        elif s.startswith("->", i):
            toks.append("->")
            i += 2
        elif c == "<" and re.match(r"<[A-Za-z0-9_:./-]+>", s[i:]):
            m = re.match(r"<[A-Za-z0-9_:./-]+>", s[i:])
            toks.append(m.group(0))
            i += len(m.group(0))
        else:
            j = i
            while j < n and not s[j].isspace() and s[j] not in SPECIAL + "#\"'" \
                    and not s.startswith("->", j):
                j += 1
            if j == i:
                j = i + 1
            toks.append(s[i:j])
            i = j
    return toks, ""


def join(toks):
    return " ".join(toks)


POOL_OPTS = {"round-robin", "random", "source-hash", "bitmask", "sticky-address",
             "static-port", "least-states"}
SCRUB_OPTS = {"no-df", "random-id", "min-ttl", "max-mss", "set-tos", "reassemble",
              "fragment"}


def split_log(toks, i):
    """log or log (opts) at toks[i:]; returns (log-tokens, next index)."""
    if i < len(toks) and toks[i] == "log":
        if i + 1 < len(toks) and toks[i + 1] == "(":
            j = toks.index(")", i + 1)
            return toks[i:j + 1], j + 1
        return [toks[i]], i + 1
    return [], i


def translation_rule(toks):
    """nat / rdr / binat -> match (or pass quick) with nat-to/rdr-to/binat-to."""
    kind = toks[0]
    if "->" not in toks:
        return None
    arrow = toks.index("->")
    head, target = toks[1:arrow], toks[arrow + 1:]
    passing = False
    log = []
    i = 0
    if i < len(head) and head[i] == "pass":
        passing = True
        i += 1
    log, i = split_log(head, i)
    rest = head[i:]
    direction = {"nat": ["out"], "rdr": ["in"], "binat": []}[kind]
    action = ["pass"] + direction + log + ["quick"] if passing else ["match"] + direction + log
    opt = {"nat": "nat-to", "rdr": "rdr-to", "binat": "binat-to"}[kind]
    return action + rest + [opt] + target


def scrub_rule(toks):
    """scrub ... opts -> match ... scrub (opts), or nothing."""
    i = 1
    head = []
    while i < len(toks) and toks[i] not in SCRUB_OPTS:
        head.append(toks[i])
        i += 1
    opts = []
    settos = []
    while i < len(toks):
        t = toks[i]
        if t == "fragment":
            mode = toks[i + 1] if i + 1 < len(toks) else ""
            if mode != "reassemble":
                return None  # fragment crop / drop-ovl: FreeBSD only
            i += 2
            continue
        if t == "reassemble":
            opts += ["reassemble", toks[i + 1]]
            i += 2
            continue
        if t in ("min-ttl", "max-mss"):
            opts += [t, toks[i + 1]]
            i += 2
            continue
        if t == "set-tos":
            settos = ["set", "tos", toks[i + 1]]
            i += 2
            continue
        if t in ("no-df", "random-id"):
            opts.append(t)
            i += 1
            continue
        return None
    if not opts and not settos:
        return []
    return ["match"] + head + (["scrub", "("] + opts + [")"] if opts else []) + settos


def route_option(toks):
    """Move FreeBSD's route-to (IF ADDR) ... to OpenBSD's place and form."""
    for k, t in enumerate(toks):
        if t in ("route-to", "reply-to", "dup-to") and k + 1 < len(toks) \
                and toks[k + 1] in ("(", "{"):
            break
    else:
        return None
    j = k + 1
    hosts = []

    def paren(j):
        # ( IF [ADDR | <table>] )
        end = toks.index(")", j)
        inner = [x for x in toks[j + 1:end] if x != ","]
        if len(inner) != 2:
            raise ValueError("route host without an address")
        return inner[1], end + 1

    try:
        if toks[j] == "(":
            h, j = paren(j)
            hosts.append(h)
        else:
            j += 1
            while toks[j] != "}":
                if toks[j] == ",":
                    j += 1
                    continue
                if toks[j] != "(":
                    raise ValueError("pool member is not (IF ADDR)")
                h, j = paren(j)
                hosts.append(h)
            j += 1
    except (ValueError, IndexError):
        return None
    opts = []
    while j < len(toks) and toks[j] in POOL_OPTS:
        opts.append(toks[j])
        if toks[j] in ("source-hash",) and j + 1 < len(toks) and \
                re.fullmatch(r"0x[0-9a-fA-F]+|\".*\"", toks[j + 1]):
            j += 1
            opts.append(toks[j])
        j += 1
    spec = [hosts[0]] if len(hosts) == 1 else ["{"] + ", ".join(hosts).split(" ") + ["}"]
    rest = toks[:k] + toks[j:]
    return rest + [toks[k]] + spec + opts


def translate_line(line):
    toks, comment = tokenize(line)
    if not toks:
        return line
    out = None
    changed = False
    if toks[0] in ("nat", "rdr", "binat"):
        out = translation_rule(toks)
    elif toks[0] == "scrub":
        out = scrub_rule(toks)
        if out == []:
            return "# " + line.strip() + "  (OpenBSD reassembles by default)"
    elif toks[:2] == ["set", "debug"] and len(toks) > 2 and toks[2] in DEBUG_LEVELS:
        out = toks[:2] + [DEBUG_LEVELS[toks[2]]] + toks[3:]
        changed = True
    elif toks[:2] == ["set", "fail-policy"]:
        return "# " + line.strip() + "  (FreeBSD only, no effect here)"
    elif toks[0] in ("pass", "block", "match"):
        r = route_option(toks)
        if r is not None:
            out = r
        else:
            out = toks
    if out is None:
        return line
    if out is not toks and not changed:
        changed = True
    if "ridentifier" in out:
        k = out.index("ridentifier")
        out = out[:k] + out[k + 2:]
        changed = True
    if out is toks and not changed:
        return line
    return join(out) + ((" " + comment) if comment else "")


def translate(text):
    lines = text.split("\n")
    out = []
    i = 0
    while i < len(lines):
        # A rule continued with backslashes is translated as one line; the
        # lines it took stay, empty, so later line numbers do not move.
        logical = lines[i]
        extra = 0
        while logical.endswith("\\") and i + extra + 1 < len(lines):
            extra += 1
            logical = logical[:-1] + " " + lines[i + extra]
        t = translate_line(logical)
        if t == logical and extra == 0:
            out.append(lines[i])
        elif t == logical:
            out.extend(lines[i:i + extra + 1])
        else:
            out.append(t)
            out.extend([""] * extra)
        i += extra + 1
    return "\n".join(out)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--table":
        for fb, ob, why in REWRITES:
            print(f"| `{fb}` | `{ob}` | {why} |")
        return
    sys.stdout.write(translate(sys.stdin.read()))


if __name__ == "__main__":
    main()
