-- enqueue: append normalized events to one provider's pending list, within max_pending,
-- skipping events whose caller-given event_id was already enqueued within dedupe_ttl.
-- KEYS[1] tw:{p}:pending  list of serialized events, oldest first
-- KEYS[2] tw:{p}:stats    hash of counters (enqueued, dropped, skipped, deduplicated)
-- KEYS[3] tw:{p}:trigger  string; present while a deliver(p) message is queued
-- KEYS[4] tw:{p}:seen     zset caller event_id -> time its dedupe window ends
-- KEYS[5] tw:{p}:since    string; Redis time the oldest pending event was enqueued (set when
--                         the list starts filling, removed by claim when it empties)
-- ARGV[1] max_pending     events beyond it are dropped (counted), never block the producer
-- ARGV[2] claim_size      a full batch waiting starts a delivery at once
-- ARGV[3] trigger_ttl_ms  how long a trigger mark lives if its message is lost
-- ARGV[4] skipped         events this provider cannot take, only counted
-- ARGV[5] dedupe_ttl (seconds from NOW, Redis TIME)
-- ARGV[6..] pairs: dedupe id ('' = none), serialized event
-- A pending event has no receipt: `tracking-worker trace` finds it in the pending list itself,
-- so an event waiting here costs its JSON and nothing more.
-- Returns {accepted, dropped, trigger(0|1), deduplicated}
-- Wrong key types fail before any write (a script is not rolled back when it fails halfway):
-- LLEN, HLEN and ZCARD fail on a wrong type, cheaper than TYPE. The since and trigger strings
-- are written with SET, which takes any type.
redis.call('HLEN', KEYS[2])
redis.call('ZCARD', KEYS[4])
local max_pending, now = tonumber(ARGV[1]), NOW
local until_ = now + tonumber(ARGV[5])
local len = redis.call('LLEN', KEYS[1])
local room = math.max(0, max_pending - len)
local accepted, dropped, deduped, ids = 0, 0, 0, 0
local batch = {}
-- The first write must be one Redis refuses under maxmemory (ZADD, RPUSH, HINCRBY): a script
-- whose first write is allowed (a ZREMRANGEBYSCORE) may go on writing past the limit. So the
-- dedupe window is read by score here and expired ids are removed at the end.
for i = 6, #ARGV, 2 do
  local id = ARGV[i]
  local seen = id ~= '' and redis.call('ZSCORE', KEYS[4], id)
  if seen and tonumber(seen) > now then
    deduped = deduped + 1
  elseif accepted >= room then
    dropped = dropped + 1
  else
    if id ~= '' then
      redis.call('ZADD', KEYS[4], until_, id)
      ids = ids + 1
    end
    batch[#batch + 1] = ARGV[i + 1]
    accepted = accepted + 1
    if #batch == 1000 then
      redis.call('RPUSH', KEYS[1], unpack(batch))
      batch = {}
    end
  end
end
if #batch > 0 then redis.call('RPUSH', KEYS[1], unpack(batch)) end
-- Expired ids are removed when new ones come: a call without any adds none to remove.
if ids > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now) end
if accepted > 0 then redis.call('SET', KEYS[5], tostring(now), 'NX') end
if accepted > 0 then redis.call('HINCRBY', KEYS[2], 'enqueued', accepted) end
if dropped > 0 then redis.call('HINCRBY', KEYS[2], 'dropped', dropped) end
if deduped > 0 then redis.call('HINCRBY', KEYS[2], 'deduplicated', deduped) end
if tonumber(ARGV[4]) > 0 then redis.call('HINCRBY', KEYS[2], 'skipped', ARGV[4]) end
local trigger = 0
if accepted > 0 and len + accepted >= tonumber(ARGV[2]) then
  if redis.call('SET', KEYS[3], '1', 'NX', 'PX', ARGV[3]) then trigger = 1 end
end
return {accepted, dropped, trigger, deduped}
