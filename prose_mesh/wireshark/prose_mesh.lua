-- prose_mesh.lua: Wireshark dissector for prose_mesh PC5-EMU frames (PROTOCOL.md §1).
--
-- EtherType 0x88B5 -> PC5-EMU shim [EMU] -> TS 36.323 §6.2.10 sidelink PDCP -> SDU:
--   type 0 IP -> Wireshark's ipv6/ip (so MIKEY on UDP 2269 uses the built-in dissector),
--   1 ARP -> arp, 2 PC5 signalling (TS 24.334 §12.5), 3 NON-IP.
-- Channel 1 (SL-DCH) carries the 29-octet PC5_DISCOVERY message (TS 24.334 §11.2.5).
--
-- Ciphertext is never dissected as plaintext. PDCP protection is implied by the header
-- (prose_mesh.protocol.pdcp, [EMU] after 36.523-1 §19.1.10):
--   one-to-one, KD-sess ID 0 (LCID 28: DCR, REJECT, DSM REJECT) -> unprotected, decoded;
--   one-to-one, KD-sess ID != 0, LCID 1-10 (ciphered) and 30 (ciphered + MAC-I) -> shown as
--     "Ciphered SDU" (+ MAC-I), never handed to PC5-S/IP;
--   one-to-one LCID 29: the DSM COMMAND is integrity-only plaintext and is decoded when its
--     message type is 12 and its IE walk parses; anything else there (the DSM COMPLETE,
--     ciphered + MAC-I) is shown as ciphered;
--   one-to-many/broadcast with PGK index or PTK ID != 0 -> ciphered (Rel-14: 0/0 = clear).
-- pc5pdcp.ciphered (generated boolean) says which case applied: filter "pc5pdcp.ciphered".
--
-- Group media (TS 33.180 §7.4 profile, AEAD_AES_128_GCM, 8-octet MKI GMK-ID || GUK-ID):
--   srtp_pm on udp.port 50000 (SRTP) and srtcp_pm on udp.port 50001 (SRTCP: encrypted floor
--   control) show the clear RTP/RTCP header, the encrypted payload, the auth tag, the SRTCP
--   E flag || index and the MKI. Registering on these ports keeps Wireshark's default-on RTCP
--   heuristic from reading SRTCP as cleartext RTCP. For a group configured with another
--   media_port use Decode-As (udp.port N -> SRTP_PM, N+1 -> SRTCP_PM), e.g.
--     tshark -X lua_script:prose_mesh.lua -d udp.port==52000,srtp_pm -d udp.port==52001,srtcp_pm
--   Preferences srtp_pm.profile / srtp_pm.mki_len select AES_CM_128_HMAC_SHA1_80 (tag 10,
--   MKI before the tag) and the MKI length (4 for a private call's PCK-ID).
-- MONP (TS 24.379 §15) is registered on udp.port 40000 (and is offered in Decode-As).
-- Bad lengths produce expert info, never a Lua error.

local pc5emu = Proto("pc5emu", "PC5-EMU shim (prose_mesh)")
local pc5pdcp = Proto("pc5pdcp", "PC5 sidelink PDCP (TS 36.323 6.2.10)")
local pc5s = Proto("pc5s", "PC5 Signalling (TS 24.334)")
local pc5d = Proto("pc5d", "PC5 Discovery (TS 24.334)")
local monp = Proto("monp", "MCPTT Off-Network Protocol (TS 24.379)")

local channels = { [0] = "SL-SCH", [1] = "SL-DCH", [2] = "SL-BCH (reserved)" }
local casts = { [0] = "broadcast", [1] = "one-to-many", [2] = "one-to-one" }
local sdu_types = { [0] = "IP", [1] = "ARP", [2] = "PC5 SIGNALLING", [3] = "NON-IP" }

-- ---------------------------------------------------------------- shim
local f_ver = ProtoField.uint8("pc5emu.version", "Version", base.DEC, nil, 0xF0)
local f_ch = ProtoField.uint8("pc5emu.channel", "Channel", base.DEC, channels, 0x0F)
local f_lcid = ProtoField.uint8("pc5emu.lcid", "LCID", base.DEC)
local f_src = ProtoField.uint24("pc5emu.src_l2id", "Source Layer-2 ID", base.HEX)
local f_dst = ProtoField.uint24("pc5emu.dst_l2id", "Destination Layer-2 ID", base.HEX)
local f_pppp = ProtoField.uint8("pc5emu.pppp", "PPPP", base.DEC, nil, 0xF0)
local f_cast = ProtoField.uint8("pc5emu.cast", "Cast type", base.DEC, casts, 0x0F)
local f_len = ProtoField.uint16("pc5emu.length", "Length", base.DEC)
local f_pad = ProtoField.bytes("pc5emu.padding", "Padding beyond LEN")
pc5emu.fields = { f_ver, f_ch, f_lcid, f_src, f_dst, f_pppp, f_cast, f_len, f_pad }

local e_short = ProtoExpert.new("pc5emu.short", "Truncated field or frame",
  expert.group.PROTOCOL, expert.severity.ERROR)
local e_header = ProtoExpert.new("pc5emu.bad_header", "Bad shim header (BAD_HEADER)",
  expert.group.PROTOCOL, expert.severity.ERROR)
pc5emu.experts = { e_short, e_header }

-- ---------------------------------------------------------------- PDCP
local p_sdu = ProtoField.uint8("pc5pdcp.sdu_type", "SDU type", base.DEC, sdu_types, 0xE0)
local p_pgk = ProtoField.uint8("pc5pdcp.pgk_index", "PGK index", base.DEC, nil, 0x1F)
local p_r = ProtoField.uint8("pc5pdcp.reserved", "Reserved", base.DEC, nil, 0x1F)
local p_ptk = ProtoField.uint16("pc5pdcp.ptk_id", "PTK ID", base.HEX)
local p_kds = ProtoField.uint16("pc5pdcp.kdsess_id", "KD-sess ID", base.HEX)
local p_sn = ProtoField.uint16("pc5pdcp.sn", "PDCP SN", base.DEC)
local p_mac = ProtoField.uint32("pc5pdcp.mac_i", "MAC-I", base.HEX)
local p_data = ProtoField.bytes("pc5pdcp.ciphered_sdu", "Ciphered SDU")
local p_ciph = ProtoField.bool("pc5pdcp.ciphered", "SDU ciphered")
local p_prot = ProtoField.string("pc5pdcp.protection", "Protection")
pc5pdcp.fields = { p_sdu, p_pgk, p_r, p_ptk, p_kds, p_sn, p_mac, p_data, p_ciph, p_prot }

-- [EMU] relay envelope (prose_mesh/wire/relay.py): SL-SCH LCID 10, CAST 0, PDCP SDU type
-- NON-IP unciphered, then VER|R, HOP LIMIT, HOPS and the forwarded PC5-EMU payload
local pc5relay = Proto("pc5relay", "PC5-EMU relay envelope (prose_mesh)")
local r_ver = ProtoField.uint8("pc5relay.version", "Version", base.DEC, nil, 0xF0)
local r_hl = ProtoField.uint8("pc5relay.hop_limit", "Hop limit", base.DEC)
local r_hops = ProtoField.uint8("pc5relay.hops", "Hops", base.DEC)
pc5relay.fields = { r_ver, r_hl, r_hops }

-- ---------------------------------------------------------------- PC5 signalling
local msg_names = {
  [1] = "DIRECT_COMMUNICATION_REQUEST", [2] = "DIRECT_COMMUNICATION_ACCEPT",
  [3] = "DIRECT_COMMUNICATION_REJECT", [4] = "DIRECT_COMMUNICATION_KEEPALIVE",
  [5] = "DIRECT_COMMUNICATION_KEEPALIVE_ACK", [6] = "DIRECT_COMMUNICATION_RELEASE",
  [7] = "DIRECT_COMMUNICATION_RELEASE_ACCEPT", [12] = "DIRECT_SECURITY_MODE_COMMAND",
  [13] = "DIRECT_SECURITY_MODE_COMPLETE", [14] = "DIRECT_SECURITY_MODE_REJECT",
  [15] = "DIRECT_REKEYING_REQUEST", [16] = "DIRECT_REKEYING_RESPONSE",
  [17] = "DIRECT_REKEYING_TRIGGER", [18] = "REMOTE_UE_INFO_REQUEST",
  [19] = "REMOTE_UE_INFO_RESPONSE",
}
local iei_names = {
  [3] = "Link Local IPv6 Address", [9] = "AUTS", [10] = "RAND", [15] = "LSB of KD ID",
  [16] = "MSB of KD ID", [17] = "KD ID", [18] = "KD Freshness", [22] = "Signature",
  [23] = "Encrypted Payload", [24] = "GPI", [25] = "Relay Service Code",
  [26] = "Maximum Inactivity Period", [27] = "Auth Flag", [28] = "PRUK ID",
  [29] = "MIKEY I_MESSAGE",
}
local S = {
  msg_type = ProtoField.uint8("pc5s.msg_type", "Message type", base.DEC, msg_names),
  seq = ProtoField.uint16("pc5s.seq", "Sequence number", base.DEC),
  user_info_type = ProtoField.uint8("pc5s.user_info_type", "User Info type", base.DEC,
    { [1] = "MSISDN", [2] = "Application layer user ID", [3] = "IMSI" }),
  user_info = ProtoField.bytes("pc5s.user_info", "User Info"),
  ip_address_config = ProtoField.uint8("pc5s.ip_address_config", "IP Address Config"),
  max_inactivity_period = ProtoField.uint32("pc5s.max_inactivity_period",
    "Maximum Inactivity Period (s)"),
  nonce_1 = ProtoField.bytes("pc5s.nonce_1", "Nonce_1"),
  nonce_2 = ProtoField.bytes("pc5s.nonce_2", "Nonce_2"),
  ue_security_capabilities = ProtoField.uint16("pc5s.ue_security_capabilities",
    "UE Security Capabilities", base.HEX),
  msb_kdsess_id = ProtoField.uint8("pc5s.msb_kdsess_id", "MSB of KD-sess ID", base.HEX),
  lsb_kdsess_id = ProtoField.uint8("pc5s.lsb_kdsess_id", "LSB of KD-sess ID", base.HEX),
  chosen_algorithms = ProtoField.uint8("pc5s.chosen_algorithms", "Chosen algorithms", base.HEX),
  cause = ProtoField.uint8("pc5s.cause", "PC5 Signalling Cause"),
  release_reason = ProtoField.uint8("pc5s.release_reason", "Release Reason"),
  keepalive_counter = ProtoField.uint32("pc5s.keepalive_counter", "Keepalive Counter"),
  remote_ue_info_type = ProtoField.uint8("pc5s.remote_ue_info_type", "Remote UE info type"),
  identity = ProtoField.bytes("pc5s.identity", "Remote UE identity"),
  iei = ProtoField.uint8("pc5s.iei", "IEI", base.DEC, iei_names),
  ie_length = ProtoField.uint16("pc5s.ie_length", "IE length"),
  link_local_ipv6 = ProtoField.ipv6("pc5s.link_local_ipv6", "Link Local IPv6 Address"),
  auts = ProtoField.bytes("pc5s.auts", "AUTS"),
  rand = ProtoField.bytes("pc5s.rand", "RAND"),
  lsb_kd_id = ProtoField.uint16("pc5s.lsb_kd_id", "LSB of KD ID", base.HEX),
  msb_kd_id = ProtoField.uint16("pc5s.msb_kd_id", "MSB of KD ID", base.HEX),
  kd_id = ProtoField.uint32("pc5s.kd_id", "KD ID", base.HEX),
  kd_freshness = ProtoField.bytes("pc5s.kd_freshness", "KD Freshness"),
  signature = ProtoField.bytes("pc5s.signature", "Signature (ECCSI)"),
  encrypted_payload = ProtoField.bytes("pc5s.encrypted_payload", "Encrypted Payload (SAKKE)"),
  gpi = ProtoField.bytes("pc5s.gpi", "GPI"),
  relay_service_code = ProtoField.uint24("pc5s.relay_service_code", "Relay Service Code",
    base.HEX),
  auth_flag = ProtoField.uint8("pc5s.auth_flag", "Auth Flag"),
  pruk_id = ProtoField.bytes("pc5s.pruk_id", "PRUK ID"),
  mikey_i_message = ProtoField.bytes("pc5s.mikey_i_message", "MIKEY I_MESSAGE"),
  ie_value = ProtoField.bytes("pc5s.ie_value", "IE value"),
}
local s_fields = {}
for _, f in pairs(S) do s_fields[#s_fields + 1] = f end
pc5s.fields = s_fields
local e_pc5s = ProtoExpert.new("pc5s.malformed", "Malformed PC5 signalling message",
  expert.group.PROTOCOL, expert.severity.ERROR)
pc5s.experts = { e_pc5s }

-- mandatory IEs per message type: {field, octets} or {field, "LV"}
local mandatory = {
  [1] = { { "user_info", "LVT" }, { "ip_address_config", 1 }, { "max_inactivity_period", 4 },
          { "nonce_1", 16 }, { "ue_security_capabilities", 2 }, { "msb_kdsess_id", 1 } },
  [2] = { { "ip_address_config", 1 } },
  [3] = { { "cause", 1 } },
  [4] = { { "keepalive_counter", 4 } },
  [5] = { { "keepalive_counter", 4 } },
  [6] = { { "release_reason", 1 } },
  [7] = {},
  [12] = { { "ue_security_capabilities", 2 }, { "nonce_2", 16 }, { "chosen_algorithms", 1 },
           { "lsb_kdsess_id", 1 } },
  [13] = {},
  [14] = { { "cause", 1 } },
  [15] = { { "ue_security_capabilities", 2 }, { "nonce_1", 16 }, { "msb_kdsess_id", 1 } },
  [16] = {},
  [17] = {},
  [18] = { { "remote_ue_info_type", 1 } },
  [19] = { { "identity", "LV" } },
}
local iei_field = {
  [3] = "link_local_ipv6", [9] = "auts", [10] = "rand", [15] = "lsb_kd_id", [16] = "msb_kd_id",
  [17] = "kd_id", [18] = "kd_freshness", [22] = "signature", [23] = "encrypted_payload",
  [24] = "gpi", [25] = "relay_service_code", [26] = "max_inactivity_period", [27] = "auth_flag",
  [28] = "pruk_id", [29] = "mikey_i_message",
}

-- ---------------------------------------------------------------- discovery
local D = {
  msg_type = ProtoField.uint8("pc5d.msg_type", "Message Type", base.HEX),
  disc_type = ProtoField.uint8("pc5d.disc_type", "Discovery type", base.DEC,
    { [1] = "open", [2] = "restricted" }, 0xC0),
  content_type = ProtoField.uint8("pc5d.content_type", "Content type", base.DEC, {
    [0] = "announcement/response", [1] = "solicitation",
    [4] = "UE-to-network relay announcement/response", [5] = "UE-to-network relay solicitation",
    [6] = "group member announcement/response", [7] = "group member solicitation",
    [8] = "relay additional information" }, 0x3C),
  model = ProtoField.uint8("pc5d.model", "Discovery model", base.DEC,
    { [1] = "Model A", [2] = "Model B" }, 0x03),
  plmn_id = ProtoField.uint24("pc5d.plmn_id", "PLMN ID", base.HEX),
  temporary_id = ProtoField.bytes("pc5d.temporary_id", "Temporary ID"),
  relay_service_code = ProtoField.uint24("pc5d.relay_service_code", "Relay Service Code",
    base.HEX),
  announcer_info = ProtoField.bytes("pc5d.announcer_info", "Announcer Info"),
  discoverer_info = ProtoField.bytes("pc5d.discoverer_info", "Discoverer Info"),
  relay_ue_id = ProtoField.uint24("pc5d.relay_ue_id", "ProSe Relay UE ID", base.HEX),
  status_indicator = ProtoField.uint8("pc5d.status_indicator", "Status Indicator", base.HEX),
  prose_ue_id = ProtoField.uint24("pc5d.prose_ue_id", "ProSe UE ID", base.HEX),
  discovery_group_id = ProtoField.uint24("pc5d.discovery_group_id", "Discovery Group ID",
    base.HEX),
  target_user_info = ProtoField.bytes("pc5d.target_user_info", "Target User Info"),
  spare = ProtoField.bytes("pc5d.spare", "Spare"),
  mic = ProtoField.uint32("pc5d.mic", "MIC", base.HEX),
  utc_lsb = ProtoField.uint8("pc5d.utc_lsb", "UTC-based counter LSB", base.HEX),
}
local d_fields = {}
for _, f in pairs(D) do d_fields[#d_fields + 1] = f end
pc5d.fields = d_fields
local e_pc5d = ProtoExpert.new("pc5d.malformed", "Malformed PC5_DISCOVERY message",
  expert.group.PROTOCOL, expert.severity.ERROR)
pc5d.experts = { e_pc5d }

local disc_layout = {
  [0] = { { "plmn_id", 3 }, { "temporary_id", 20 } },
  [1] = { { "plmn_id", 3 }, { "temporary_id", 20 } },
  [4] = { { "relay_service_code", 3 }, { "announcer_info", 6 }, { "relay_ue_id", 3 },
          { "status_indicator", 1 }, { "spare", 10 } },
  [5] = { { "relay_service_code", 3 }, { "discoverer_info", 6 }, { "relay_ue_id", 3 },
          { "spare", 11 } },
  [6] = { { "prose_ue_id", 3 }, { "announcer_info", 6 }, { "discovery_group_id", 3 },
          { "spare", 11 } },
  [7] = { { "discoverer_info", 6 }, { "discovery_group_id", 3 }, { "target_user_info", 6 },
          { "spare", 8 } },
}

-- ---------------------------------------------------------------- MONP
local monp_names = { [1] = "GROUP CALL PROBE", [2] = "GROUP CALL ANNOUNCEMENT",
                     [3] = "GROUP CALL ACCEPT" }
local M = {
  msg_type = ProtoField.uint8("monp.msg_type", "Message type", base.HEX, monp_names),
  call_id = ProtoField.uint16("monp.call_id", "Call identifier", base.DEC),
  call_type = ProtoField.uint8("monp.call_type", "Call type", base.HEX),
  refresh_interval = ProtoField.uint16("monp.refresh_interval", "Refresh interval (ms)"),
  call_start_time = ProtoField.uint64("monp.call_start_time", "Call start time (UTC s)"),
  last_change_time = ProtoField.uint64("monp.last_call_type_change_time",
    "Last call type change time (UTC s)"),
  group_id = ProtoField.string("monp.group_id", "MCPTT group ID"),
  sdp = ProtoField.string("monp.sdp", "SDP"),
  originating_user_id = ProtoField.string("monp.originating_user_id",
    "Originating MCPTT user ID"),
  last_user = ProtoField.string("monp.last_user_to_change_call_type",
    "Last user to change call type"),
  user_id = ProtoField.string("monp.user_id", "MCPTT user ID"),
  t_iei = ProtoField.uint8("monp.t_iei", "Optional IE", base.HEX,
    { [0x80] = "Confirm mode indication", [0x81] = "Probe response" }),
}
local m_fields = {}
for _, f in pairs(M) do m_fields[#m_fields + 1] = f end
monp.fields = m_fields
local e_monp = ProtoExpert.new("monp.malformed", "Malformed MONP message",
  expert.group.PROTOCOL, expert.severity.ERROR)
monp.experts = { e_monp }

local h_ipv6 = Dissector.get("ipv6")
local h_ip = Dissector.get("ip")
local h_arp = Dissector.get("arp")
local h_data = Dissector.get("data")
local h_mikey = Dissector.get("mikey")

-- ---------------------------------------------------------------- helpers
local function short(tree, expert_field, tvb, off, what)
  tree:add_proto_expert_info(expert_field, "Truncated: " .. what .. " at octet " .. off
    .. " of " .. tvb:len())
end

-- ---------------------------------------------------------------- PC5-S
local fixed_ie_len = { link_local_ipv6 = 16, lsb_kd_id = 2, msb_kd_id = 2, kd_id = 4,
                       relay_service_code = 3, max_inactivity_period = 4, auth_flag = 1 }

-- Walk one PC5-S message. With t == nil nothing is added and the result says whether the
-- message parses exactly (known type, mandatory IEs, known IEIs with their fixed lengths,
-- no overrun): the test that tells an integrity-only DSM COMMAND from ciphertext on LCID 29.
local function walk_pc5s(tvb, pinfo, t)
  local len = tvb:len()
  local function bad(off, what)
    if t then short(t, e_pc5s, tvb, off, what) end
    return false
  end
  if len < 3 then return bad(0, "message type and sequence number") end
  local mt = tvb(0, 1):uint()
  local name = msg_names[mt] or ("unknown type " .. mt)
  if t then
    t:add(S.msg_type, tvb(0, 1))
    t:add(S.seq, tvb(1, 2))
    pinfo.cols.protocol = "PC5-S"
    pinfo.cols.info = name
    t:append_text(": " .. name)
  end
  local layout = mandatory[mt]
  if layout == nil then
    if t then t:add_proto_expert_info(e_pc5s, "Unknown message type " .. mt) end
    return false
  end
  local off = 3
  for _, item in ipairs(layout) do
    local fname, size = item[1], item[2]
    if size == "LV" or size == "LVT" then
      if off + 1 > len then return bad(off, fname) end
      local n = tvb(off, 1):uint()
      if off + 1 + n > len then return bad(off, fname) end
      if t then
        if size == "LVT" and n >= 1 then
          t:add(S.user_info_type, tvb(off + 1, 1))
          if n > 1 then t:add(S[fname], tvb(off + 2, n - 1)) end
        elseif n > 0 then
          t:add(S[fname], tvb(off + 1, n))
        end
      end
      off = off + 1 + n
    else
      if off + size > len then return bad(off, fname) end
      if t then t:add(S[fname], tvb(off, size)) end
      off = off + size
    end
  end
  while off < len do
    local iei = tvb(off, 1):uint()
    local tlv_e = (iei == 23 or iei == 29)  -- TLV-E: 2-octet length [EMU]
    local hl = tlv_e and 3 or 2
    if off + hl > len then return bad(off, "IE header") end
    local n = tlv_e and tvb(off + 1, 2):uint() or tvb(off + 1, 1):uint()
    if off + hl + n > len then return bad(off, "IE value") end
    local fname = iei_field[iei]
    local wrong_len = fname and fixed_ie_len[fname] and fixed_ie_len[fname] ~= n
    if t == nil then
      if fname == nil or wrong_len then return false end
    else
      local it = t:add(tvb(off, hl + n), iei_names[iei] or ("IE " .. iei))
      it:add(S.iei, tvb(off, 1))
      it:add(S.ie_length, tvb(off + 1, hl - 1))
      if n > 0 then
        local f = fname and S[fname] or S.ie_value
        if wrong_len then
          f = S.ie_value
          it:add_proto_expert_info(e_pc5s, "Unexpected IE length " .. n)
        end
        it:add(f, tvb(off + hl, n))
        -- [EMU] IE 29 holds a MIKEY-SAKKE I_MESSAGE: let Wireshark's MIKEY dissector show it
        if iei == 29 and h_mikey ~= nil then
          h_mikey:call(tvb(off + hl, n):tvb(), pinfo, it)
        end
      end
    end
    off = off + hl + n
  end
  return true
end

local function dissect_pc5s(tvb, pinfo, tree)
  walk_pc5s(tvb, pinfo, tree:add(pc5s, tvb()))
end

-- ---------------------------------------------------------------- discovery
local function dissect_pc5d(tvb, pinfo, tree)
  local t = tree:add(pc5d, tvb())
  pinfo.cols.protocol = "PC5-D"
  if tvb:len() ~= 29 then
    t:add_proto_expert_info(e_pc5d, "PC5_DISCOVERY must be 29 octets, got " .. tvb:len())
    if tvb:len() < 1 then return end
  end
  local mt = tvb(0, 1):uint()
  t:add(D.msg_type, tvb(0, 1))
  t:add(D.disc_type, tvb(0, 1))
  t:add(D.content_type, tvb(0, 1))
  t:add(D.model, tvb(0, 1))
  local ct = bit.band(bit.rshift(mt, 2), 0x0F)
  pinfo.cols.info = string.format("PC5_DISCOVERY type 0x%02x", mt)
  local layout = disc_layout[ct]
  if layout == nil or tvb:len() ~= 29 then
    if layout == nil then t:add_proto_expert_info(e_pc5d, "Unknown content type " .. ct) end
    return
  end
  local off = 1
  for _, item in ipairs(layout) do
    t:add(D[item[1]], tvb(off, item[2]))
    off = off + item[2]
  end
  t:add(D.mic, tvb(24, 4))
  t:add(D.utc_lsb, tvb(28, 1))
end

-- ---------------------------------------------------------------- MONP
function monp.dissector(tvb, pinfo, tree)
  local len = tvb:len()
  if len < 1 then return 0 end
  pinfo.cols.protocol = "MONP"
  local t = tree:add(monp, tvb())
  local mt = tvb(0, 1):uint()
  t:add(M.msg_type, tvb(0, 1))
  pinfo.cols.info = monp_names[mt] or ("MONP type " .. mt)
  local off = 1
  local function v(field, n)
    if off + n > len then short(t, e_monp, tvb, off, "fixed IE"); return false end
    if n == 5 then t:add(field, tvb(off, 5), tvb(off, 5):uint64())
    else t:add(field, tvb(off, n)) end
    off = off + n
    return true
  end
  local function lve(field)
    if off + 2 > len then short(t, e_monp, tvb, off, "LV-E length"); return false end
    local n = tvb(off, 2):uint()
    if off + 2 + n > len then short(t, e_monp, tvb, off, "LV-E value"); return false end
    if n > 0 then t:add(field, tvb(off + 2, n)) end
    off = off + 2 + n
    return true
  end
  if mt == 1 then
    if not lve(M.group_id) then return len end
  elseif mt == 2 then
    if not (v(M.call_id, 2) and v(M.call_type, 1) and v(M.refresh_interval, 2)
            and v(M.call_start_time, 5) and v(M.last_change_time, 5)) then return len end
    if not (lve(M.group_id) and lve(M.sdp) and lve(M.originating_user_id)
            and lve(M.last_user)) then return len end
    while off < len do t:add(M.t_iei, tvb(off, 1)); off = off + 1 end
  elseif mt == 3 then
    if not (v(M.call_id, 2) and v(M.call_type, 1) and lve(M.user_id) and lve(M.group_id)) then
      return len
    end
  else
    t:add_proto_expert_info(e_monp, "Unknown MONP message type " .. mt)
  end
  if off < len then
    t:add_proto_expert_info(e_monp, (len - off) .. " trailing octets")
  end
  return len
end

-- ---------------------------------------------------------------- SDU hand-off
local function dissect_sdu(sdu_type, tvb, pinfo, tree)
  if tvb:len() == 0 then return end
  if sdu_type == 0 then
    local ver = bit.rshift(tvb(0, 1):uint(), 4)
    if ver == 6 then h_ipv6:call(tvb, pinfo, tree)
    elseif ver == 4 then h_ip:call(tvb, pinfo, tree)
    else h_data:call(tvb, pinfo, tree) end
  elseif sdu_type == 1 then h_arp:call(tvb, pinfo, tree)
  elseif sdu_type == 2 then dissect_pc5s(tvb, pinfo, tree)
  else
    pinfo.cols.info = "NON-IP SDU"
    h_data:call(tvb, pinfo, tree)
  end
end

-- ---------------------------------------------------------------- shim + PDCP
function pc5emu.dissector(tvb, pinfo, tree)
  local len = tvb:len()
  pinfo.cols.protocol = "PC5-EMU"
  local t = tree:add(pc5emu, tvb(0, math.min(len, 11)))
  if len < 11 then short(t, e_short, tvb, 0, "11-octet shim"); return len end
  t:add(f_ver, tvb(0, 1)); t:add(f_ch, tvb(0, 1)); t:add(f_lcid, tvb(1, 1))
  t:add(f_src, tvb(2, 3)); t:add(f_dst, tvb(5, 3))
  t:add(f_pppp, tvb(8, 1)); t:add(f_cast, tvb(8, 1)); t:add(f_len, tvb(9, 2))
  local ver = bit.rshift(tvb(0, 1):uint(), 4)
  local ch = bit.band(tvb(0, 1):uint(), 0x0F)
  local lcid = tvb(1, 1):uint()
  local cast = bit.band(tvb(8, 1):uint(), 0x0F)
  local plen = tvb(9, 2):uint()
  t:append_text(string.format(", %s LCID %d, 0x%06x -> 0x%06x", channels[ch] or "?", lcid,
    tvb(2, 3):uint(), tvb(5, 3):uint()))
  if ver ~= 1 or ch > 1 or cast > 2 then
    t:add_proto_expert_info(e_header, "VER/CH/CAST invalid"); return len
  end
  if 11 + plen > len then
    short(t, e_short, tvb, 11, "payload of LEN " .. plen); return len
  end
  if 11 + plen < len then t:add(f_pad, tvb(11 + plen)) end
  if plen == 0 then return len end
  local pay = tvb(11, plen):tvb()
  if ch == 1 then dissect_pc5d(pay, pinfo, tree); return len end
  local pt = tree:add(pc5pdcp, pay())
  if plen < 5 then short(pt, e_short, pay, 0, "5-octet PDCP header"); return len end
  local first = pay(0, 1):uint()
  local sdu_type = bit.rshift(first, 5)
  local key_id = pay(1, 2):uint()
  pt:add(p_sdu, pay(0, 1))
  local body_end = plen
  local ciphered, protection
  if cast == 2 then
    pt:add(p_r, pay(0, 1)); pt:add(p_kds, pay(1, 2)); pt:add(p_sn, pay(3, 2))
    local has_mac = lcid == 29 or lcid == 30
    if has_mac then
      if plen < 9 then short(pt, e_short, pay, 5, "MAC-I"); return len end
      body_end = plen - 4
      pt:add(p_mac, pay(body_end, 4))
    end
    if key_id == 0 or lcid == 28 then
      ciphered, protection = false, "none"
    elseif lcid == 29 then
      -- DSM COMMAND (type 12) is integrity-only plaintext; the COMPLETE is ciphered
      local body = body_end > 5 and pay(5, body_end - 5):tvb() or nil
      local cmd = body ~= nil and body(0, 1):uint() == 12 and walk_pc5s(body, pinfo, nil)
      ciphered = not cmd
      protection = cmd and "integrity" or "ciphered + integrity"
    else
      ciphered = true
      protection = has_mac and "ciphered + integrity" or "ciphered"
    end
  else
    pt:add(p_pgk, pay(0, 1)); pt:add(p_ptk, pay(1, 2)); pt:add(p_sn, pay(3, 2))
    -- Rel-14 profile: an unprotected one-to-many PDU has PGK index = PTK ID = 0
    ciphered = bit.band(first, 0x1F) ~= 0 or key_id ~= 0
    protection = ciphered and "ciphered" or "none"
  end
  pt:add(p_ciph, ciphered):set_generated()
  pt:add(p_prot, protection):set_generated()
  pt:append_text(", " .. protection)
  if body_end <= 5 then return len end
  if ciphered then
    pt:add(p_data, pay(5, body_end - 5))
    pinfo.cols.info = string.format("PDCP ciphered SDU (%s, LCID %d, SN %d)",
      sdu_types[sdu_type] or "?", lcid, pay(3, 2):uint())
    return len
  end
  if lcid == 10 and cast == 0 and sdu_type == 3 and body_end - 5 >= 3 then
    local r = pay(5, body_end - 5):tvb()
    local rt = tree:add(pc5relay, r(0, 3))
    rt:add(r_ver, r(0, 1)); rt:add(r_hl, r(1, 1)); rt:add(r_hops, r(2, 1))
    rt:append_text(string.format(", relayed by 0x%06x, hops %d, hop limit %d",
      tvb(2, 3):uint(), r(2, 1):uint(), r(1, 1):uint()))
    if r:len() > 3 then pc5emu.dissector(r(3):tvb(), pinfo, tree) end
    return len
  end
  dissect_sdu(sdu_type, pay(5, body_end - 5):tvb(), pinfo, tree)
  return len
end

-- ---------------------------------------------------------------- SRTP / SRTCP
-- RFC 3711 §3.1/§3.4, RFC 7714 §8/§9/§17 (GCM: the tag is the end of the AEAD output, before
-- the SRTCP E||index; the MKI comes last). HMAC-SHA1-80: ... || MKI || tag.
local srtp_pm = Proto("srtp_pm", "SRTP (prose_mesh group media)")
local srtcp_pm = Proto("srtcp_pm", "SRTCP (prose_mesh floor control)")
local PROFILE_GCM, PROFILE_HMAC = 1, 2
srtp_pm.prefs.profile = Pref.enum("SRTP profile", PROFILE_GCM,
  "Protection profile of SRTP and SRTCP on these ports",
  { { 1, "AEAD_AES_128_GCM (tag 16)", PROFILE_GCM },
    { 2, "AES_CM_128_HMAC_SHA1_80 (tag 10)", PROFILE_HMAC } }, false)
srtp_pm.prefs.mki_len = Pref.uint("MKI length", 8,
  "Octets of MKI: 8 for a group (GMK-ID || GUK-ID), 4 for a private call (PCK-ID), 0 none")

local R = {
  version = ProtoField.uint8("srtp_pm.version", "Version", base.DEC, nil, 0xC0),
  padding = ProtoField.bool("srtp_pm.padding", "Padding", 8, nil, 0x20),
  extension = ProtoField.bool("srtp_pm.extension", "Extension", 8, nil, 0x10),
  cc = ProtoField.uint8("srtp_pm.cc", "CSRC count", base.DEC, nil, 0x0F),
  marker = ProtoField.bool("srtp_pm.marker", "Marker", 8, nil, 0x80),
  pt = ProtoField.uint8("srtp_pm.pt", "Payload type", base.DEC, nil, 0x7F),
  seq = ProtoField.uint16("srtp_pm.seq", "Sequence number", base.DEC),
  timestamp = ProtoField.uint32("srtp_pm.timestamp", "Timestamp", base.DEC),
  ssrc = ProtoField.uint32("srtp_pm.ssrc", "SSRC", base.HEX),
  csrc = ProtoField.uint32("srtp_pm.csrc", "CSRC", base.HEX),
  ext_profile = ProtoField.uint16("srtp_pm.ext_profile", "Extension profile", base.HEX),
  ext_len = ProtoField.uint16("srtp_pm.ext_len", "Extension length (words)", base.DEC),
  ext = ProtoField.bytes("srtp_pm.ext", "Extension data"),
  payload = ProtoField.bytes("srtp_pm.encrypted_payload", "Encrypted payload"),
  mki = ProtoField.bytes("srtp_pm.mki", "MKI"),
  tag = ProtoField.bytes("srtp_pm.auth_tag", "Authentication tag"),
}
local r_fields = {}
for _, f in pairs(R) do r_fields[#r_fields + 1] = f end
srtp_pm.fields = r_fields
local C = {
  version = ProtoField.uint8("srtcp_pm.version", "Version", base.DEC, nil, 0xC0),
  padding = ProtoField.bool("srtcp_pm.padding", "Padding", 8, nil, 0x20),
  count = ProtoField.uint8("srtcp_pm.count", "Count / APP subtype", base.DEC, nil, 0x1F),
  pt = ProtoField.uint8("srtcp_pm.pt", "Packet type", base.DEC,
    { [200] = "SR", [201] = "RR", [202] = "SDES", [203] = "BYE", [204] = "APP" }),
  length = ProtoField.uint16("srtcp_pm.length", "Length (words - 1)", base.DEC),
  ssrc = ProtoField.uint32("srtcp_pm.ssrc", "SSRC of sender", base.HEX),
  payload = ProtoField.bytes("srtcp_pm.encrypted_payload", "Encrypted payload"),
  e_flag = ProtoField.bool("srtcp_pm.e_flag", "E flag (encrypted)", 32, nil, 0x80000000),
  index = ProtoField.uint32("srtcp_pm.index", "SRTCP index", base.DEC, nil, 0x7FFFFFFF),
  mki = ProtoField.bytes("srtcp_pm.mki", "MKI"),
  tag = ProtoField.bytes("srtcp_pm.auth_tag", "Authentication tag"),
}
local c_fields = {}
for _, f in pairs(C) do c_fields[#c_fields + 1] = f end
srtcp_pm.fields = c_fields
local e_srtp = ProtoExpert.new("srtp_pm.malformed", "Malformed SRTP/SRTCP packet",
  expert.group.MALFORMED, expert.severity.ERROR)
srtp_pm.experts = { e_srtp }

-- Add the protected trailer (tag, E||index, MKI) ending at the packet end; returns the offset
-- of E||index (SRTCP) or of the trailer (SRTP), nil when too short.
local function srtp_trailer(tvb, t, F, from, rtcp)
  local len = tvb:len()
  local gcm = srtp_pm.prefs.profile == PROFILE_GCM
  local tag_len = gcm and 16 or 10
  local mki_len = srtp_pm.prefs.mki_len
  local idx_len = rtcp and 4 or 0
  if len < from + tag_len + idx_len + mki_len then
    short(t, e_srtp, tvb, from, "auth tag / E||index / MKI")
    return nil
  end
  -- GCM: payload ‖ tag ‖ [E‖index] ‖ MKI; HMAC: payload ‖ [E‖index] ‖ MKI ‖ tag
  local mki_off = len - mki_len - (gcm and 0 or tag_len)
  local idx_off = mki_off - idx_len
  local tag_off = gcm and (idx_off - tag_len) or (len - tag_len)
  local pay_end = gcm and tag_off or idx_off
  if pay_end > from then t:add(F.payload, tvb(from, pay_end - from)) end
  if gcm then t:add(F.tag, tvb(tag_off, tag_len)) end
  if rtcp then t:add(F.e_flag, tvb(idx_off, 4)); t:add(F.index, tvb(idx_off, 4)) end
  if mki_len > 0 then t:add(F.mki, tvb(mki_off, mki_len)) end
  if not gcm then t:add(F.tag, tvb(tag_off, tag_len)) end
  local mark = rtcp and idx_off or pay_end
  return mark
end

function srtp_pm.dissector(tvb, pinfo, tree)
  local len = tvb:len()
  pinfo.cols.protocol = "SRTP"
  local t = tree:add(srtp_pm, tvb())
  if len < 12 then short(t, e_srtp, tvb, 0, "12-octet RTP header"); return len end
  local b0 = tvb(0, 1):uint()
  t:add(R.version, tvb(0, 1)); t:add(R.padding, tvb(0, 1)); t:add(R.extension, tvb(0, 1))
  t:add(R.cc, tvb(0, 1)); t:add(R.marker, tvb(1, 1)); t:add(R.pt, tvb(1, 1))
  t:add(R.seq, tvb(2, 2)); t:add(R.timestamp, tvb(4, 4)); t:add(R.ssrc, tvb(8, 4))
  if bit.rshift(b0, 6) ~= 2 then
    t:add_proto_expert_info(e_srtp, "RTP version " .. bit.rshift(b0, 6)); return len
  end
  local off = 12
  for _ = 1, bit.band(b0, 0x0F) do
    if off + 4 > len then short(t, e_srtp, tvb, off, "CSRC"); return len end
    t:add(R.csrc, tvb(off, 4)); off = off + 4
  end
  if bit.band(b0, 0x10) ~= 0 then
    if off + 4 > len then short(t, e_srtp, tvb, off, "header extension"); return len end
    local words = tvb(off + 2, 2):uint()
    t:add(R.ext_profile, tvb(off, 2)); t:add(R.ext_len, tvb(off + 2, 2))
    if off + 4 + 4 * words > len then short(t, e_srtp, tvb, off, "extension"); return len end
    if words > 0 then t:add(R.ext, tvb(off + 4, 4 * words)) end
    off = off + 4 + 4 * words
  end
  srtp_trailer(tvb, t, R, off, false)
  pinfo.cols.info = string.format("PT=%d, SSRC=0x%08X, Seq=%d, Time=%d%s",
    bit.band(tvb(1, 1):uint(), 0x7F), tvb(8, 4):uint(), tvb(2, 2):uint(), tvb(4, 4):uint(),
    bit.band(tvb(1, 1):uint(), 0x80) ~= 0 and ", Mark" or "")
  return len
end

function srtcp_pm.dissector(tvb, pinfo, tree)
  local len = tvb:len()
  pinfo.cols.protocol = "SRTCP"
  local t = tree:add(srtcp_pm, tvb())
  if len < 8 then short(t, e_srtp, tvb, 0, "8-octet RTCP header"); return len end
  local b0 = tvb(0, 1):uint()
  t:add(C.version, tvb(0, 1)); t:add(C.padding, tvb(0, 1)); t:add(C.count, tvb(0, 1))
  t:add(C.pt, tvb(1, 1)); t:add(C.length, tvb(2, 2)); t:add(C.ssrc, tvb(4, 4))
  if bit.rshift(b0, 6) ~= 2 then
    t:add_proto_expert_info(e_srtp, "RTCP version " .. bit.rshift(b0, 6)); return len
  end
  local off = srtp_trailer(tvb, t, C, 8, true)
  local info = string.format("PT=%d, count/subtype=%d, SSRC=0x%08X", tvb(1, 1):uint(),
    bit.band(b0, 0x1F), tvb(4, 4):uint())
  if off ~= nil then
    local word = tvb(off, 4):uint()
    info = info .. string.format(", index %d%s", bit.band(word, 0x7FFFFFFF),
      bit.band(word, 0x80000000) ~= 0 and ", encrypted" or "")
  end
  pinfo.cols.info = info
  return len
end

DissectorTable.get("ethertype"):add(0x88B5, pc5emu)
DissectorTable.get("udp.port"):add(40000, monp)
DissectorTable.get("udp.port"):add(50000, srtp_pm)  -- [EMU] default media_port
DissectorTable.get("udp.port"):add(50001, srtcp_pm)  -- media_port + 1
