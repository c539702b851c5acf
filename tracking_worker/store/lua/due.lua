-- due: would a flushing delivery of this provider find work now? Beat's tick asks this once
-- per provider per tick, so it stays cheap: two sizes, a count and two fields.
-- KEYS[1] tw:{p}:pending  KEYS[2] tw:{p}:retry  KEYS[3] tw:{p}:circuit  KEYS[4] tw:{p}:since
-- ARGV[1] claim_size (a full batch)  ARGV[2] flush_interval
-- NOW: Redis TIME. A provider whose circuit is open has nothing due (its probe comes by itself
-- when the pause ends). Due: a retry batch whose time has come, a full batch, or a partial one
-- whose oldest event has waited flush_interval (the same rule as claim.lua).
-- Returns 1 when work is due, else 0.
local open_until = tonumber(redis.call('HGET', KEYS[3], 'open_until') or 0)
if open_until > NOW then return 0 end
if redis.call('ZCOUNT', KEYS[2], '-inf', NOW) > 0 then return 1 end
local len = redis.call('LLEN', KEYS[1])
if len >= tonumber(ARGV[1]) then return 1 end
if len == 0 then return 0 end
local since = tonumber(redis.call('GET', KEYS[4]) or 0)
if NOW - since >= tonumber(ARGV[2]) then return 1 end
return 0
