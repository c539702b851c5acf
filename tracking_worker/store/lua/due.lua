-- due: would a flushing delivery of this provider find work now? Beat's tick asks this once
-- per provider per tick, so it stays cheap: two sizes, a count and two fields.
-- KEYS: pending  tw:{p}:pending   retry  tw:{p}:retry   circuit  tw:{p}:circuit
--       since    tw:{p}:since
-- ARGV: claim_size      a full batch
--       flush_interval  seconds a partial batch may wait
-- NOW: Redis TIME. A provider whose circuit is open has nothing due (its probe comes by itself
-- when the pause ends). Due: a retry batch whose time has come, a full batch, or a partial one
-- whose oldest event has waited flush_interval (the same rule as claim.lua).
-- Returns 1 when work is due, else 0.
local pending, retry, circuit, since_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local claim_size, flush_interval = tonumber(ARGV[1]), tonumber(ARGV[2])
local open_until = tonumber(redis.call('HGET', circuit, 'open_until') or 0)
if open_until > NOW then return 0 end
if redis.call('ZCOUNT', retry, '-inf', NOW) > 0 then return 1 end
local len = redis.call('LLEN', pending)
if len >= claim_size then return 1 end
if len == 0 then return 0 end
local since = tonumber(redis.call('GET', since_key) or 0)
if NOW - since >= flush_interval then return 1 end
return 0
