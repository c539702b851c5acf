-- settle: record the outcome of every event of a claimed batch in one step.
-- KEYS[1] tw:{p}:batch:<id>  KEYS[2] tw:{p}:leases  KEYS[3] tw:{p}:retry
-- KEYS[4] tw:{p}:dead (stream)  KEYS[5] tw:{p}:stats  KEYS[6] tw:{p}:latency
-- KEYS[7] tw:{p}:circuit
-- ARGV[1] batch id  ARGV[2] lease token  ARGV[3] retry not before (absolute, Redis time: the
--         circuit's open_until, 0 for none)
-- ARGV[4] delivered count  ARGV[5] requests sent
-- ARGV[6] retry events (JSON array, '' when none)  ARGV[7] retry count
-- ARGV[8] retry delay (seconds from NOW, Redis TIME)
-- ARGV[9] attempts to add (0 when the provider was paused, not at fault)  ARGV[10] last error
-- ARGV[11] dead stream max length
-- ARGV[12] receipts_ttl (seconds; 0: no receipts)  ARGV[13] receipt bucket seconds
-- ARGV[14] receipts key prefix (tw:{p}:receipts:)  ARGV[15] delivered event ids (JSON array)
-- ARGV[16] '1' when every request of the batch succeeded: the circuit closes, as
--          circuit_record does for a success (one round trip per batch, not two)
-- ARGV[17] n, then ARGV[18..17+n]: latency histogram increments, field and amount pairs (see
--          store/metrics.py); a latency key of the wrong type is left alone, never an error:
--          a metric must not fail a delivery
-- ARGV[18+n..] dead entries, 6 fields each: event, reason, status, excerpt, attempts, kind
--          (each kind is also counted: dead:<kind>, e.g. dead:expired, dead:rejected)
-- The dead stream keeps ARGV[11] entries: the oldest beyond are trimmed, counted as
-- dead_trimmed, and reported to the caller, never silently.
-- Receipts (receipts_lib.lua): delivered, with the attempts the batch had used plus this one;
-- dead, with the entry's attempts and reason; retry, with the batch's new count and the error.
-- Returns {1, trimmed}, or {-1, 0} when the lease was lost (reaped and maybe claimed again):
-- nothing changes, the batch will be sent again (at-least-once); the requests were made all
-- the same, so the circuit and the histogram are written first.
if ARGV[16] == '1' then redis.call('DEL', KEYS[7]) end
local first_dead = 18 + tonumber(ARGV[17])
for f = 18, first_dead - 1, 2 do redis.pcall('HINCRBY', KEYS[6], ARGV[f], ARGV[f + 1]) end
local held = redis.call('HMGET', KEYS[1], 'token', 'attempts')
if held[1] ~= ARGV[2] then return {-1, 0} end
redis.call('ZREM', KEYS[2], ARGV[1])
local delivered = tonumber(ARGV[4])
if delivered > 0 then redis.call('HINCRBY', KEYS[5], 'delivered', delivered) end
if tonumber(ARGV[5]) > 0 then redis.call('HINCRBY', KEYS[5], 'requests', ARGV[5]) end
local receipt = receipts(ARGV[12], ARGV[13], ARGV[14])
if receipt.on then
  local attempts = tonumber(held[2] or 0) + 1
  for _, id in ipairs(cjson.decode(ARGV[15])) do receipt.add(id, 'delivered', attempts) end
end
local dead, trimmed = 0, 0
local before = 0
if #ARGV >= first_dead + 5 then before = redis.call('XLEN', KEYS[4]) end
local i = first_dead
while i + 5 <= #ARGV do
  redis.call('XADD', KEYS[4], 'MAXLEN', ARGV[11], '*',
    'event', ARGV[i], 'reason', ARGV[i + 1], 'status', ARGV[i + 2], 'excerpt', ARGV[i + 3],
    'attempts', ARGV[i + 4], 'kind', ARGV[i + 5], 'batch', ARGV[1], 'dead_at', NOW)
  redis.call('HINCRBY', KEYS[5], 'dead:' .. ARGV[i + 5], 1)
  receipt.add(event_id(ARGV[i]), 'dead', ARGV[i + 4], ARGV[i + 1])
  dead = dead + 1
  i = i + 6
end
if dead > 0 then
  redis.call('HINCRBY', KEYS[5], 'dead', dead)
  trimmed = before + dead - redis.call('XLEN', KEYS[4])
  if trimmed > 0 then redis.call('HINCRBY', KEYS[5], 'dead_trimmed', trimmed) end
end
if ARGV[6] ~= '' then
  local count = tonumber(ARGV[7])
  redis.call('HSET', KEYS[1], 'events', ARGV[6], 'count', count, 'last_error', ARGV[10])
  redis.call('HDEL', KEYS[1], 'lines')  -- the claimed events' other form (claim.lua)
  local attempts = redis.call('HINCRBY', KEYS[1], 'attempts', ARGV[9])
  if receipt.on then
    for _, raw in ipairs(cjson.decode(ARGV[6])) do
      receipt.add(event_id(raw), 'retry', attempts, ARGV[10])
    end
  end
  redis.call('HDEL', KEYS[1], 'token')
  redis.call('ZADD', KEYS[3], math.max(NOW + tonumber(ARGV[8]), tonumber(ARGV[3])), ARGV[1])
  redis.call('HINCRBY', KEYS[5], 'retried', count)
  redis.call('HINCRBY', KEYS[5], 'in_retry', count)
else
  redis.call('DEL', KEYS[1])
end
receipt.done()
return {1, trimmed}
