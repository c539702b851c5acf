-- enqueue: append normalized events to one provider's pending list, within max_pending,
-- skipping events whose caller-given event_id was already enqueued within dedupe_ttl.
-- KEYS: pending  tw:{p}:pending  list of serialized events, oldest first
--       stats    tw:{p}:stats    hash of counters (enqueued, dropped, skipped, deduplicated)
--       trigger  tw:{p}:trigger  string; present while a deliver(p) message is queued
--       seen     tw:{p}:seen     zset caller event_id -> time its dedupe window ends
--       since    tw:{p}:since    string; Redis time the oldest pending event was enqueued (set
--                                when the list starts filling, removed by claim when it empties)
-- ARGV: max_pending     events beyond it are dropped (counted), never block the producer
--       claim_size      a full batch waiting starts a delivery at once
--       trigger_ttl_ms  how long a trigger mark lives if its message is lost
--       skipped         events this provider cannot take, only counted
--       dedupe_ttl      seconds from NOW, Redis TIME
--       events, from FIRST_EVENT on: pairs of dedupe id ('' = none), serialized event
-- A pending event has no receipt: `tracking-worker trace` finds it in the pending list itself,
-- so an event waiting here costs its JSON and nothing more.
-- Returns {accepted, dropped, trigger(0|1), deduplicated}
local pending, stats, trigger_key, seen_key, since = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local max_pending, claim_size = tonumber(ARGV[1]), tonumber(ARGV[2])
local trigger_ttl_ms, skipped, dedupe_ttl = ARGV[3], ARGV[4], tonumber(ARGV[5])
local FIRST_EVENT = 6
-- Wrong key types fail before any write (a script is not rolled back when it fails halfway):
-- LLEN, HLEN and ZCARD fail on a wrong type, cheaper than TYPE. The since and trigger strings
-- are written with SET, which takes any type.
redis.call('HLEN', stats)
redis.call('ZCARD', seen_key)
local now = NOW
local until_ = now + dedupe_ttl
local len = redis.call('LLEN', pending)
local room = math.max(0, max_pending - len)
local accepted, dropped, deduped, ids = 0, 0, 0, 0
local batch = {}
-- The first write must be one Redis refuses under maxmemory (ZADD, RPUSH, HINCRBY): a script
-- whose first write is allowed (a ZREMRANGEBYSCORE) may go on writing past the limit. So the
-- dedupe window is read by score here and expired ids are removed at the end.
for i = FIRST_EVENT, #ARGV, 2 do
  local id = ARGV[i]
  local seen = id ~= '' and redis.call('ZSCORE', seen_key, id)
  if seen and tonumber(seen) > now then
    deduped = deduped + 1
  elseif accepted >= room then
    dropped = dropped + 1
  else
    if id ~= '' then
      redis.call('ZADD', seen_key, until_, id)
      ids = ids + 1
    end
    batch[#batch + 1] = ARGV[i + 1]
    accepted = accepted + 1
    if #batch == 1000 then
      redis.call('RPUSH', pending, unpack(batch))
      batch = {}
    end
  end
end
if #batch > 0 then redis.call('RPUSH', pending, unpack(batch)) end
-- Expired ids are removed when new ones come: a call without any adds none to remove.
if ids > 0 then redis.call('ZREMRANGEBYSCORE', seen_key, '-inf', now) end
if accepted > 0 then redis.call('SET', since, tostring(now), 'NX') end
if accepted > 0 then redis.call('HINCRBY', stats, 'enqueued', accepted) end
if dropped > 0 then redis.call('HINCRBY', stats, 'dropped', dropped) end
if deduped > 0 then redis.call('HINCRBY', stats, 'deduplicated', deduped) end
if tonumber(skipped) > 0 then redis.call('HINCRBY', stats, 'skipped', skipped) end
local trigger = 0
if accepted > 0 and len + accepted >= claim_size then
  if redis.call('SET', trigger_key, '1', 'NX', 'PX', trigger_ttl_ms) then trigger = 1 end
end
return {accepted, dropped, trigger, deduped}
