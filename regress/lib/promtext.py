#!/usr/bin/python3
# promtext.py [NAME [LABEL=VALUE ...]]: reads a Prometheus text exposition
# on standard input and parses it with prometheus_client's parser (Debian's
# python3-prometheus-client; a malformed text is an error, exit 1). With
# NAME, prints the sum of the samples of that name whose labels match
# (the others summed over); without, the number of families. Exit 2 when
# no sample matches. Run by /usr/bin/python3, where Debian's package is.
import sys
from prometheus_client.parser import text_string_to_metric_families

text = sys.stdin.read()
try:
    families = list(text_string_to_metric_families(text))
except Exception as e:  # the parser raises ValueError and friends
    print("malformed exposition: %s" % e, file=sys.stderr)
    sys.exit(1)
if len(sys.argv) < 2:
    print(len(families))
    sys.exit(0)
name = sys.argv[1]
want = dict(a.split("=", 1) for a in sys.argv[2:])
total, found = 0.0, False
for f in families:
    for s in f.samples:
        if s.name == name and all(s.labels.get(k) == v for k, v in want.items()):
            total += s.value
            found = True
if not found:
    sys.exit(2)
print(int(total) if total == int(total) else total)
