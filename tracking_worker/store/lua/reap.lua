-- reap: return batches whose lease expired (their worker died or hung) to the retry set.
-- KEYS[1] tw:{p}:leases  KEYS[2] tw:{p}:retry  KEYS[3] tw:{p}:stats
-- ARGV[1] now  ARGV[2] batch key prefix (tw:{p}:batch:, same {p} hash tag)  ARGV[3] limit
-- The attempt counts: a batch that kills its worker every time must end dead, not loop.
-- Returns the number of batches reaped.
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do
  local key = ARGV[2] .. id
  redis.call('ZREM', KEYS[1], id)
  redis.call('HDEL', key, 'token')
  redis.call('HINCRBY', key, 'attempts', 1)
  redis.call('HSET', key, 'last_error', 'lease expired: worker lost during send')
  redis.call('ZADD', KEYS[2], ARGV[1], id)
  local count = tonumber(redis.call('HGET', key, 'count') or 0)
  redis.call('HINCRBY', KEYS[3], 'in_retry', count)
  redis.call('HINCRBY', KEYS[3], 'reaped', 1)
end
return #ids
