-- claim: lease one batch to a worker; a due retry batch first, else up to claim_size pending.
-- KEYS[1] tw:{p}:pending  list
-- KEYS[2] tw:{p}:leases   zset batch id -> lease deadline
-- KEYS[3] tw:{p}:retry    zset batch id -> due time
-- KEYS[4] tw:{p}:batch:<new id>  hash created when the batch comes from pending
-- KEYS[5] tw:{p}:stats    hash (in_retry gauge)
-- ARGV[1] now  ARGV[2] lease deadline  ARGV[3] claim_size  ARGV[4] min_size (1 = flush partial)
-- ARGV[5] lease token  ARGV[6] new batch id  ARGV[7] batch key prefix (tw:{p}:batch:)
-- Batch hash: events (JSON array of serialized events), count, attempts, created, token,
-- last_error. Retry batch keys are built from ARGV[7]; they share the {p} hash tag with KEYS.
-- Returns {} or {id, events_json, attempts, last_error}
local due = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', ARGV[1], 'LIMIT', 0, 1)
if #due > 0 then
  local id = due[1]
  local key = ARGV[7] .. id
  redis.call('ZREM', KEYS[3], id)
  redis.call('HSET', key, 'token', ARGV[5])
  redis.call('ZADD', KEYS[2], ARGV[2], id)
  local got = redis.call('HMGET', key, 'events', 'attempts', 'last_error', 'count')
  redis.call('HINCRBY', KEYS[5], 'in_retry', -tonumber(got[4] or 0))
  return {id, got[1], got[2] or '0', got[3] or ''}
end
if redis.call('LLEN', KEYS[1]) < tonumber(ARGV[4]) then return {} end
local items = redis.call('LPOP', KEYS[1], tonumber(ARGV[3]))
if not items then return {} end
local events = cjson.encode(items)
redis.call('HSET', KEYS[4], 'events', events, 'count', #items, 'attempts', 0,
  'created', ARGV[1], 'token', ARGV[5], 'last_error', '')
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[6])
return {ARGV[6], events, '0', ''}
