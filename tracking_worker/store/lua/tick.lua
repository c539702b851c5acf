-- tick: claim this tick interval, so that two beats running at once (a second one started by
-- mistake, or during a deploy) tick as one: the one whose call comes `min_gap` seconds or
-- more after the last tick ticks, the other skips. Records the tick's time (Redis time):
-- what `status` shows as "last tick" and the NoTick alert reads.
-- KEYS: tick     tw:tick  string: Redis time of the last tick, "<seconds>.<microseconds>"
-- ARGV: min_gap  seconds; 0 ticks whatever the last tick (`tracking-worker tick`)
-- Returns 1 when this call ticks, 0 when another did within `min_gap`.
local tick = KEYS[1]
local min_gap = tonumber(ARGV[1])
local last = tonumber(redis.call('GET', tick) or '')
if last and min_gap > 0 and NOW - last < min_gap then return 0 end
redis.call('SET', tick, string.format('%.6f', NOW))
return 1
