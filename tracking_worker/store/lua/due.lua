-- due: would a flushing delivery of this provider find work now? Beat's tick asks this once
-- per provider per tick, so it must stay cheap: two sizes and a hash field.
-- KEYS[1] tw:{p}:pending  KEYS[2] tw:{p}:retry  KEYS[3] tw:{p}:circuit
-- NOW: Redis TIME. A provider whose circuit is open has nothing due (its probe comes by itself
-- when the pause ends).
-- Returns 1 when work is due, else 0.
local open_until = tonumber(redis.call('HGET', KEYS[3], 'open_until') or 0)
if open_until > NOW then return 0 end
if redis.call('LLEN', KEYS[1]) > 0 then return 1 end
if redis.call('ZCOUNT', KEYS[2], '-inf', NOW) > 0 then return 1 end
return 0
