-- forget_guard: announce, or end, one forget's run on this provider. While it runs, replay.lua
-- and route_resume.lua drop the person's events instead of putting them back in the pending
-- list, behind the part of it the forget has already read (forget_lib.lua's `forgetting`).
-- KEYS: forgetting  tw:{p}:forgetting  hash: run token -> {"expires": Redis time,
--                                      "needles": the person}
-- ARGV: token        the run's
--       seconds      how long the entry holds (a forget that dies leaves it no longer);
--                    0: the run is over, its entry is removed
--       needles_len  n, then from FIRST_NEEDLE n arguments: the person (forget_lib.lua)
-- Returns how many runs are announced on the provider now.
local key = KEYS[1]
local token, seconds = ARGV[1], tonumber(ARGV[2])
local needles_len = tonumber(ARGV[3])
local FIRST_NEEDLE = 4
if seconds > 0 then
  local entry = {expires = NOW + seconds, needles = needles_at(FIRST_NEEDLE, needles_len)}
  redis.call('HSET', key, token, cjson.encode(entry))
  -- The key outlives its longest entry; an entry past its time is removed when next read.
  if redis.call('TTL', key) < math.ceil(seconds) then
    redis.call('EXPIRE', key, math.ceil(seconds))
  end
else
  redis.call('HDEL', key, token)
end
return redis.call('HLEN', key)
