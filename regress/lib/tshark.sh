# tshark on captured CARP and pfsync frames (source it). Debian's tshark
# decodes CARP only when IP's heuristic dissectors go first (protocol 112
# is VRRP's too), and has no pfsync dissector: pfsync.lua is ours, from
# if_pfsync.h. IP header checksums are checked as well.

TSHARK_OPTS=(-o ip.try_heuristic_first:TRUE -o ip.check_checksum:TRUE -X "lua_script:$LIB/pfsync.lua")

# tshark_count FILE FILTER: frames of FILE matching the display FILTER.
tshark_count() { tshark "${TSHARK_OPTS[@]}" -r "$1" -Y "$2" 2>/dev/null | wc -l; }

# tshark_malformed FILE: "Malformed" and "Expert Info (Error" lines of
# FILE's full decode.
tshark_malformed() { tshark "${TSHARK_OPTS[@]}" -r "$1" -V 2>&1 | grep -cE 'Malformed|Expert Info \(Error' || true; }
