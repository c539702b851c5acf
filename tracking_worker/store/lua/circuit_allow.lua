-- circuit_allow: may a worker send to this provider now?
-- KEYS: circuit  tw:{p}:circuit  hash: state (closed|open|half), failures, opens, open_until,
--                                probe_until, reason
-- ARGV: probe_lease  seconds a half-open probe may take
-- NOW: Redis TIME
-- Closed: yes. Open before open_until: no. Open after it: this caller becomes the one probe
-- (half-open). Half-open while a probe runs: no; a probe that never reported frees the slot.
-- Returns {allowed (0|1), wait seconds, state}
local circuit = KEYS[1]
local probe_lease = tonumber(ARGV[1])
local now = NOW
local c = redis.call('HMGET', circuit, 'state', 'open_until', 'probe_until')
local state = c[1] or 'closed'
local open_until = tonumber(c[2] or 0)
if open_until > now then return {0, tostring(open_until - now), state} end
if state == 'closed' then return {1, '0', state} end
if state == 'half' and tonumber(c[3] or 0) > now then
  return {0, tostring(tonumber(c[3]) - now), state}
end
redis.call('HSET', circuit, 'state', 'half', 'probe_until', now + probe_lease)
return {1, '0', 'half'}
