-- claim: lease one batch to a worker: a due retry batch first, else a full batch of pending
-- events, else (when flushing) the pending events once the oldest has waited flush_interval.
-- A partial batch waits to fill; it never goes out just because a run happens to be looking.
-- KEYS: pending  tw:{p}:pending  list
--       leases   tw:{p}:leases   zset batch id -> lease deadline
--       retry    tw:{p}:retry    zset batch id -> due time
--       batch    tw:{p}:batch:<batch_id>  hash created when the batch comes from pending
--       stats    tw:{p}:stats    hash (in_retry gauge, lost)
--       since    tw:{p}:since    Redis time the oldest pending event was enqueued (enqueue.lua)
-- ARGV: lease           seconds
--       claim_size      a full batch
--       flush           1: an aged partial batch too
--       token           the lease's
--       batch_id        the new batch's id
--       batch_prefix    batch key prefix (tw:{p}:batch:)
--       flush_interval  seconds a partial batch may wait
-- No receipt is written here: a leased batch is itself the record that its events are in
-- flight (store/receipts.py reads the leases), and an in_flight receipt per event, overwritten
-- by settle moments later, had cost Redis a quarter of its time per delivered event.
-- NOW is Redis TIME (the prelude), so every host's leases and due times share one clock.
-- Batch hash: its events, count, attempts, created, token, last_error. The events are in one
-- of two fields: `lines`, the serialized events joined by newlines (a serialized event holds
-- none: JSON escapes them), written here for a batch from pending, where cjson.encode cost
-- Redis a fifth of the claim (70 µs per 100 events) and the worker a decode of every escaped
-- quote; or `events`, a JSON array, for a retry batch (settle.lua and reap.lua write it: every
-- version reads it), for any batch holding an item with a newline (a corrupt one, kept whole),
-- and for batches of earlier versions.
-- Retry batch keys are built from batch_prefix; they share the {p} hash tag with KEYS.
-- A due id whose hash is gone (evicted, deleted by hand) is dropped and counted as lost.
-- Returns {id, events, attempts, last_error, lost, format ('lines' | 'json')} or
-- {'', '', '', '', lost, ''}
local pending, leases, retry = KEYS[1], KEYS[2], KEYS[3]
local batch, stats, since_key = KEYS[4], KEYS[5], KEYS[6]
local lease, claim_size, flush = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local token, batch_id, batch_prefix = ARGV[4], ARGV[5], ARGV[6]
local flush_interval = tonumber(ARGV[7])
local deadline = NOW + lease
local lost = 0
while true do
  local due = redis.call('ZRANGEBYSCORE', retry, '-inf', NOW, 'LIMIT', 0, 1)
  if #due == 0 then break end
  local id = due[1]
  local key = batch_prefix .. id
  redis.call('ZREM', retry, id)
  local got = redis.call('HMGET', key, 'events', 'attempts', 'last_error', 'count', 'lines')
  if not got[1] and not got[5] then
    lost = lost + 1
    redis.call('HINCRBY', stats, 'lost', 1)
  else
    redis.call('HSET', key, 'token', token)
    redis.call('ZADD', leases, deadline, id)
    redis.call('HINCRBY', stats, 'in_retry', -tonumber(got[4] or 0))
    local events, format = got[1], 'json'
    if got[5] then events, format = got[5], 'lines' end
    return {id, events, got[2] or '0', got[3] or '', lost, format}
  end
end
local none = {'', '', '', '', lost, ''}
local len = redis.call('LLEN', pending)
local take = 0
if len >= claim_size then
  take = claim_size
elseif len > 0 and flush == '1' then
  -- No mark (an older version enqueued, or it was evicted) reads as aged: never stuck.
  local since = tonumber(redis.call('GET', since_key) or 0)
  if NOW - since >= flush_interval then take = len end
end
if take == 0 then return none end
local items = redis.call('LPOP', pending, take)
if redis.call('LLEN', pending) == 0 then redis.call('DEL', since_key) end
local format, field = 'lines', 'lines'
for _, raw in ipairs(items) do
  if string.find(raw, '\n', 1, true) then format, field = 'json', 'events' break end
end
local events
if format == 'lines' then events = table.concat(items, '\n') else events = cjson.encode(items) end
redis.call('HSET', batch, field, events, 'count', #items, 'attempts', 0,
  'created', NOW, 'token', token, 'last_error', '')
redis.call('ZADD', leases, deadline, batch_id)
return {batch_id, events, '0', '', lost, format}
