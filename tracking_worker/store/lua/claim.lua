-- claim: lease one batch to a worker: a due retry batch first, else a full batch of pending
-- events, else (when flushing) the pending events once the oldest has waited flush_interval.
-- A partial batch waits to fill; it never goes out just because a run happens to be looking.
-- KEYS[1] tw:{p}:pending  list
-- KEYS[2] tw:{p}:leases   zset batch id -> lease deadline
-- KEYS[3] tw:{p}:retry    zset batch id -> due time
-- KEYS[4] tw:{p}:batch:<new id>  hash created when the batch comes from pending
-- KEYS[5] tw:{p}:stats    hash (in_retry gauge, lost)
-- KEYS[6] tw:{p}:since    Redis time the oldest pending event was enqueued (see enqueue.lua)
-- ARGV[1] lease seconds  ARGV[2] claim_size (a full batch)  ARGV[3] flush (1: aged partial too)
-- ARGV[4] lease token  ARGV[5] new batch id  ARGV[6] batch key prefix (tw:{p}:batch:)
-- ARGV[7] flush_interval (seconds a partial batch may wait)
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
-- Retry batch keys are built from ARGV[6]; they share the {p} hash tag with KEYS.
-- A due id whose hash is gone (evicted, deleted by hand) is dropped and counted as lost.
-- Returns {id, events, attempts, last_error, lost, format ('lines' | 'json')} or
-- {'', '', '', '', lost, ''}
local deadline = NOW + tonumber(ARGV[1])
local lost = 0
while true do
  local due = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', NOW, 'LIMIT', 0, 1)
  if #due == 0 then break end
  local id = due[1]
  local key = ARGV[6] .. id
  redis.call('ZREM', KEYS[3], id)
  local got = redis.call('HMGET', key, 'events', 'attempts', 'last_error', 'count', 'lines')
  if not got[1] and not got[5] then
    lost = lost + 1
    redis.call('HINCRBY', KEYS[5], 'lost', 1)
  else
    redis.call('HSET', key, 'token', ARGV[4])
    redis.call('ZADD', KEYS[2], deadline, id)
    redis.call('HINCRBY', KEYS[5], 'in_retry', -tonumber(got[4] or 0))
    local events, format = got[1], 'json'
    if got[5] then events, format = got[5], 'lines' end
    return {id, events, got[2] or '0', got[3] or '', lost, format}
  end
end
local none = {'', '', '', '', lost, ''}
local len, size = redis.call('LLEN', KEYS[1]), tonumber(ARGV[2])
local take = 0
if len >= size then
  take = size
elseif len > 0 and ARGV[3] == '1' then
  -- No mark (an older version enqueued, or it was evicted) reads as aged: never stuck.
  local since = tonumber(redis.call('GET', KEYS[6]) or 0)
  if NOW - since >= tonumber(ARGV[7]) then take = len end
end
if take == 0 then return none end
local items = redis.call('LPOP', KEYS[1], take)
if redis.call('LLEN', KEYS[1]) == 0 then redis.call('DEL', KEYS[6]) end
local format, field = 'lines', 'lines'
for _, raw in ipairs(items) do
  if string.find(raw, '\n', 1, true) then format, field = 'json', 'events' break end
end
local events
if format == 'lines' then events = table.concat(items, '\n') else events = cjson.encode(items) end
redis.call('HSET', KEYS[4], field, events, 'count', #items, 'attempts', 0,
  'created', NOW, 'token', ARGV[4], 'last_error', '')
redis.call('ZADD', KEYS[2], deadline, ARGV[5])
return {ARGV[5], events, '0', '', lost, format}
