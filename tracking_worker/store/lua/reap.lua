-- reap: return batches whose lease expired (their worker died, hung or was paused) to retry.
-- KEYS[1] tw:{p}:leases  KEYS[2] tw:{p}:retry  KEYS[3] tw:{p}:stats
-- ARGV[1] batch key prefix (tw:{p}:batch:, same {p} hash tag)  ARGV[2] limit
-- NOW is Redis TIME: a tick host whose clock runs ahead cannot reap a live lease.
-- The attempt counts: a batch that kills its worker every time must end dead, not loop.
-- A leased id whose hash is gone (evicted, deleted by hand) is dropped and counted as lost.
-- Its events go back as a JSON array (field events), the form every version's claim reads,
-- so a worker not yet upgraded can take over a batch a newer one left (see claim.lua).
-- Returns {reaped, lost}.
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', NOW, 'LIMIT', 0, tonumber(ARGV[2]))
local reaped, lost = 0, 0
for _, id in ipairs(ids) do
  local key = ARGV[1] .. id
  redis.call('ZREM', KEYS[1], id)
  if redis.call('EXISTS', key) == 0 then
    lost = lost + 1
  else
    redis.call('HDEL', key, 'token')
    local lines = redis.call('HGET', key, 'lines')
    if lines then
      redis.call('HSET', key, 'events', cjson.encode(split_lines(lines)))
      redis.call('HDEL', key, 'lines')
    end
    redis.call('HINCRBY', key, 'attempts', 1)
    redis.call('HSET', key, 'last_error', 'lease expired: worker lost during send')
    redis.call('ZADD', KEYS[2], NOW, id)
    local count = tonumber(redis.call('HGET', key, 'count') or 0)
    redis.call('HINCRBY', KEYS[3], 'in_retry', count)
    reaped = reaped + 1
  end
end
if reaped > 0 then redis.call('HINCRBY', KEYS[3], 'reaped', reaped) end
if lost > 0 then redis.call('HINCRBY', KEYS[3], 'lost', lost) end
return {reaped, lost}
