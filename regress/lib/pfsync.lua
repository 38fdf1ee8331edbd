-- A Wireshark dissector for OpenBSD's pfsync (IP protocol 240), which
-- Debian's tshark lacks: `tshark -X lua_script:regress/lib/pfsync.lua`.
-- Written from if_pfsync.h (header, subheaders, message sizes) for the
-- netns suite: it names each section and its messages, and flags as
-- malformed (Expert Info Error) a frame whose header, sections or
-- messages do not add up, or that carries anything after its length but
-- the trailer of pfsyncd's `pass` (a 64-bit sequence number and an
-- HMAC-SHA1, 28 bytes). The header's pfcksum field carries pfsyncd's
-- repair extension when it starts with "pR" (pfcore's
-- wire::pfsync::repair: version and kind DATA, ALIVE, NACK or GONE,
-- epoch, sequence number, stamp or count), decoded as such; any other
-- value is the ruleset checksum of older OpenBSD releases, or zeros.

local p = Proto("pfsync", "OpenBSD pfsync")

local actions = {
	[0] = "CLR", [1] = "INS (old)", [2] = "INS_ACK", [3] = "UPD (old)",
	[4] = "UPD_C", [5] = "UPD_REQ", [6] = "DEL", [7] = "DEL_C",
	[8] = "INS_F", [9] = "DEL_F", [10] = "BUS", [11] = "TDB (old)",
	[12] = "EOF", [13] = "INS", [14] = "UPD", [15] = "TDB",
}
-- Size of one message of each current action (bytes).
local sizes = {
	[0] = 20, [2] = 12, [4] = 84, [5] = 12, [6] = 264, [7] = 12,
	[10] = 12, [13] = 264, [14] = 264, [15] = 52,
}

local kinds = { [1] = "DATA", [2] = "ALIVE", [3] = "NACK", [4] = "GONE" }

local f = {
	version = ProtoField.uint8("pfsync.version", "Version"),
	len = ProtoField.uint16("pfsync.len", "Length"),
	cksum = ProtoField.bytes("pfsync.pfcksum", "Ruleset checksum"),
	action = ProtoField.uint8("pfsync.action", "Action", base.DEC, actions),
	msglen = ProtoField.uint8("pfsync.msglen", "Message length (32-bit words)"),
	count = ProtoField.uint16("pfsync.count", "Count"),
	id = ProtoField.uint64("pfsync.id", "State id", base.HEX),
	creatorid = ProtoField.uint32("pfsync.creatorid", "Creator id", base.HEX),
	af = ProtoField.uint8("pfsync.af", "Address family"),
	direction = ProtoField.uint8("pfsync.direction", "Direction"),
	timeout = ProtoField.uint8("pfsync.timeout", "Timeout index"),
	state_flags = ProtoField.uint16("pfsync.state_flags", "State flags", base.HEX),
	bus_status = ProtoField.uint8("pfsync.bus.status", "Bulk update status"),
	seq = ProtoField.uint64("pfsync.seq", "Sequence number (pass)"),
	hmac = ProtoField.bytes("pfsync.hmac", "HMAC-SHA1 (pass)"),
	repair = ProtoField.bytes("pfsync.repair", "Repair extension"),
	rversion = ProtoField.uint8("pfsync.repair.version", "Version", base.DEC, nil, 0xf0),
	rkind = ProtoField.uint8("pfsync.repair.kind", "Kind", base.DEC, kinds, 0x0f),
	repoch = ProtoField.uint32("pfsync.repair.epoch", "Epoch", base.HEX),
	rseq = ProtoField.uint32("pfsync.repair.seq", "Sequence number"),
	rstamp = ProtoField.uint32("pfsync.repair.stamp", "Oldest new state (Unix ms, low 32 bits)"),
	rcount = ProtoField.uint32("pfsync.repair.count", "Frames"),
}
p.fields = {
	f.version, f.len, f.cksum, f.action, f.msglen, f.count, f.id, f.creatorid,
	f.af, f.direction, f.timeout, f.state_flags, f.bus_status, f.seq, f.hmac,
	f.repair, f.rversion, f.rkind, f.repoch, f.rseq, f.rstamp, f.rcount,
}
local malformed = ProtoExpert.new("pfsync.malformed", "Malformed pfsync frame",
	expert.group.MALFORMED, expert.severity.ERROR)
p.experts = { malformed }

-- The repair extension in the pfcksum field (bytes 4..19), as pfsyncd
-- reads it: magic "pR", version 1, a known kind, reserved 0, epoch not 0.
-- Returns its kind's name, or nil when the field is a checksum.
local function repair(tree, tvb)
	if tvb(4, 2):string() ~= "pR" or tvb(7, 1):uint() ~= 0 or tvb(8, 4):uint() == 0 then
		return nil
	end
	local vk = tvb(6, 1):uint()
	local kind = kinds[vk % 16]
	if math.floor(vk / 16) ~= 1 or kind == nil then
		return nil
	end
	local r = tree:add(f.repair, tvb(4, 16))
	r:set_text("Repair extension: " .. kind .. " epoch 0x" .. string.format("%08x", tvb(8, 4):uint())
		.. " seq " .. tvb(12, 4):uint())
	r:add(f.rversion, tvb(6, 1))
	r:add(f.rkind, tvb(6, 1))
	r:add(f.repoch, tvb(8, 4))
	r:add(f.rseq, tvb(12, 4))
	if vk % 16 <= 2 then
		r:add(f.rstamp, tvb(16, 4))
	else
		r:add(f.rcount, tvb(16, 4))
	end
	return kind
end

local function state(tree, tvb, off)
	tree:add(f.id, tvb(off, 8))
	tree:add(f.creatorid, tvb(off + 236, 4))
	local af, dir, tmo = tvb(off + 250, 1):uint(), tvb(off + 252, 1):uint(), tvb(off + 255, 1):uint()
	tree:add(f.af, tvb(off + 250, 1))
	tree:add(f.direction, tvb(off + 252, 1))
	tree:add(f.timeout, tvb(off + 255, 1))
	tree:add(f.state_flags, tvb(off + 260, 2))
	if (af ~= 2 and af ~= 24) or (dir ~= 1 and dir ~= 2) or tmo >= 20 then
		tree:add_proto_expert_info(malformed, "state with a bad address family, direction or timeout")
	end
end

function p.dissector(tvb, pinfo, tree)
	pinfo.cols.protocol = "PFSYNC"
	local t = tree:add(p, tvb())
	local n = tvb:len()
	if n < 20 then
		t:add_proto_expert_info(malformed, "shorter than the pfsync header")
		return
	end
	local len = tvb(2, 2):uint()
	t:add(f.version, tvb(0, 1))
	t:add(f.len, tvb(2, 2))
	local rkind = repair(t, tvb)
	if rkind == nil then
		t:add(f.cksum, tvb(4, 16))
	end
	if tvb(0, 1):uint() ~= 6 then
		t:add_proto_expert_info(malformed, "version is not 6")
		return
	end
	if len < 20 or len > n then
		t:add_proto_expert_info(malformed, "length beyond the packet")
		return
	end
	local off, names = 20, {}
	while off < len do
		if len - off < 4 then
			t:add_proto_expert_info(malformed, "truncated subheader")
			return
		end
		local act, mlen, count = tvb(off, 1):uint(), tvb(off + 1, 1):uint() * 4, tvb(off + 2, 2):uint()
		local s = t:add(p, tvb(off, math.min(len - off, 4 + mlen * count)),
			(actions[act] or "UNKNOWN") .. " x" .. count)
		s:add(f.action, tvb(off, 1))
		s:add(f.msglen, tvb(off + 1, 1))
		s:add(f.count, tvb(off + 2, 2))
		off = off + 4
		local size = sizes[act]
		if size == nil or mlen < size or count == 0 then
			s:add_proto_expert_info(malformed, "unknown action or short message")
			return
		end
		if mlen * count > len - off then
			s:add_proto_expert_info(malformed, "messages beyond the frame's length")
			return
		end
		for i = 0, count - 1 do
			local m = off + i * mlen
			if size == 264 then
				state(s, tvb, m)
			elseif size == 12 and act ~= 10 then
				s:add(f.id, tvb(m, 8))
				s:add(f.creatorid, tvb(m + 8, 4))
			elseif act == 10 then
				s:add(f.creatorid, tvb(m, 4))
				s:add(f.bus_status, tvb(m + 8, 1))
			end
		end
		names[#names + 1] = (actions[act] or "?") .. " x" .. count
		off = off + mlen * count
	end
	if n == len + 28 then
		t:add(f.seq, tvb(len, 8))
		t:add(f.hmac, tvb(len + 8, 20))
	elseif n ~= len then
		t:add_proto_expert_info(malformed, (n - len) .. " bytes after the frame")
	end
	if rkind ~= nil then
		table.insert(names, 1, rkind .. " " .. tvb(12, 4):uint())
	end
	pinfo.cols.info = table.concat(names, ", ")
end

DissectorTable.get("ip.proto"):add(240, p)
