-- enqueue: append normalized events to one provider's pending list, within max_pending,
-- each event id at most once within the idempotency window (a caller-given one within
-- dedupe_ttl too).
-- KEYS: pending     tw:{p}:pending  list of serialized events, oldest first
--       stats       tw:{p}:stats    hash of counters (enqueued, dropped, skipped, deduplicated)
--       trigger     tw:{p}:trigger  string; present while a deliver(p) message is queued
--       seen        tw:{p}:seen     zset caller event_id -> time its dedupe window ends
--       since       tw:{p}:since    string; Redis time the oldest pending event was enqueued (set
--                                   when the list starts filling, removed by claim when it empties)
--       ids_prefix  tw:{p}:ids:     the ids taken: hashes <prefix><bucket>:<shard>, see below
--       suppressed  tw:{p}:suppressed  hash: a suppressed person's identifier (a member, see
--                                   people.py) -> events of theirs dropped here; written by
--                                   suppress.lua
-- ARGV: max_pending     events beyond it are dropped (counted), never block the producer
--       claim_size      a full batch waiting starts a delivery at once
--       trigger_ttl_ms  how long a trigger mark lives if its message is lost
--       skipped         events this provider cannot take, only counted
--       dedupe_ttl      seconds from NOW, Redis TIME
--       window          idempotency window, seconds: an id taken is refused again this long
--       check           1: the events may have been enqueued already (a spool drain after a
--                       round trip whose outcome was unknown): look each id up; 0: fresh ids
--       skips           '' or, when receipts are on and this provider skipped some of the
--                       call's events, JSON [receipts_ttl, bucket seconds, receipts prefix,
--                       [[event id, why], ...]]: each gets a `skipped` receipt with the reason
--                       (receipts_lib.lua), so `trace` can say why
--       events, from FIRST_EVENT on: quadruples of key, caller event id ('' = none),
--                       serialized event, people; the key is the event's id key (8 bytes, a
--                       hash of its id) when it came alone, or its call's mark
--                       (batch:<16 hex>) when it came with others: a mark is one key for the
--                       whole call, <ids_prefix><mark>, set with its events and kept `window`
--                       seconds; people: the hashed identifiers of the event's person,
--                       members of MEMBER_BYTES each, end to end ('' = none)
-- An event whose person is suppressed (any of its identifiers in the suppressed hash) is
-- dropped before anything else is looked at, its id not taken: counted as suppressed in stats
-- and under the identifier found. Checked here, in the enqueue's own round trip; an empty
-- list costs one HLEN a call. The list is per provider because a script may touch one
-- provider's slot only (Redis Cluster): suppress.lua writes the same members to every
-- provider's hash.
-- Every id is taken, whatever `check`: nobody knows yet which round trip will time out after
-- Redis ran it. Ids live in buckets of `window` seconds, each bucket in 16384 hashes keyed by
-- the id key's first two bytes, the field its other six: a hash of up to 128 short fields is a
-- listpack, about 10 bytes an id (a set costs 64), up to about 2,000 events/s per provider
-- (past 128 fields a hash becomes a table; still right, five times the bytes). A bucket expires
-- `window` after its end, so an id is remembered for `window` to 2 `window` seconds, and a
-- lookup reads two buckets: this one and the one before.
-- A pending event has no receipt: `tracking-worker trace` finds it in the pending list itself,
-- so an event waiting here costs its JSON and its id key.
-- Returns {accepted, dropped, trigger(0|1), deduplicated}, and when some events were
-- suppressed, a fifth element: their positions (1-based, among this call's events)
local pending, stats, trigger_key, seen_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local since, ids_prefix, suppressed_key = KEYS[5], KEYS[6], KEYS[7]
local max_pending, claim_size = tonumber(ARGV[1]), tonumber(ARGV[2])
local trigger_ttl_ms, skipped, dedupe_ttl = ARGV[3], ARGV[4], tonumber(ARGV[5])
local window, check, skips = tonumber(ARGV[6]), ARGV[7] == '1', ARGV[8]
local FIRST_EVENT = 9
local SHARDS, BUCKETS = 16384, 1
local MEMBER_BYTES = 9  -- people.MEMBER_BYTES
-- Wrong key types fail before any write (a script is not rolled back when it fails halfway):
-- LLEN, HLEN and ZCARD fail on a wrong type, cheaper than TYPE. The since and trigger strings
-- are written with SET, which takes any type. The seen zset is read only for caller ids.
redis.call('HLEN', stats)
for i = FIRST_EVENT + 1, #ARGV, 4 do
  if ARGV[i] ~= '' then
    redis.call('ZCARD', seen_key)
    break
  end
end
-- HLEN also fails on a wrong type here, before any write.
local screening = redis.call('HLEN', suppressed_key) > 0
local now = NOW
local until_ = now + dedupe_ttl
local width = window / BUCKETS
local bucket = math.floor(now / width)
-- Integers as text once per call: Lua writes a number by sprintf("%.14g") at each use.
local here = ids_prefix .. string.format('%d', bucket) .. ':'
local expire_at = string.format('%d', math.floor(((bucket + 1) * width + window) * 1000))
local len = redis.call('LLEN', pending)
local room = math.max(0, max_pending - len)
local accepted, dropped, deduped, callers = 0, 0, 0, 0
local suppressed = {}
local batch, touched, marks, to_mark = {}, {}, {}, {}
local window_ms = string.format('%d', math.ceil(window * 1000))

-- Whether an id key was taken in any bucket still alive: the hash of bucket b is keyed by the
-- key's first two bytes, the field is its other six.
local function taken(key)
  local b1, b2 = string.byte(key, 1, 2)
  local shard, field = (b1 * 256 + b2) % SHARDS, string.sub(key, 3)
  for b = bucket - BUCKETS, bucket do
    local hash = ids_prefix .. string.format('%d', b) .. ':' .. shard
    if redis.call('HEXISTS', hash, field) == 1 then return true end
  end
  return false
end

-- Whether a multi-event call's mark was set (the call ran), looked up once per call.
local function marked(key)
  local found = marks[key]
  if found == nil then
    found = redis.call('EXISTS', ids_prefix .. key) == 1
    marks[key] = found
  end
  return found
end

-- Whether the person is suppressed: each of their identifiers is looked up until one is
-- found, which counts the event for it.
local function suppressed_person(people)
  for j = 1, #people, MEMBER_BYTES do
    local person = string.sub(people, j, j + MEMBER_BYTES - 1)
    if redis.call('HEXISTS', suppressed_key, person) == 1 then
      redis.call('HINCRBY', suppressed_key, person, 1)
      return true
    end
  end
  return false
end

-- The first write must be one Redis refuses under maxmemory (HSET, ZADD, RPUSH, HINCRBY): a
-- script whose first write is allowed (a ZREMRANGEBYSCORE) may go on writing past the limit.
-- So the dedupe window is read by score here and expired ids are removed at the end.
for i = FIRST_EVENT, #ARGV, 4 do
  local key, caller, raw, people = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  if screening and people ~= '' and suppressed_person(people) then
    suppressed[#suppressed + 1] = (i - FIRST_EVENT) / 4 + 1
  else
    local mark = #key ~= 8  -- a multi-event call's mark, not an id key
    -- A caller's id is judged by its dedupe window once it has one; before (a first try whose
    -- id track() made, retried with that id given), and any id a drain brings, by the ids taken.
    local seen = caller ~= '' and redis.call('ZSCORE', seen_key, caller)
    local again
    if seen then
      again = tonumber(seen) > now
    elseif mark then
      again = check and marked(key)
    else
      again = (check or caller ~= '') and taken(key)
    end
    if again then
      deduped = deduped + 1
    elseif accepted >= room then
      dropped = dropped + 1
    else
      if mark then
        to_mark[key] = true
      else
        local b1, b2 = string.byte(key, 1, 2)
        local hash = here .. ((b1 * 256 + b2) % SHARDS)
        redis.call('HSET', hash, string.sub(key, 3), '')
        touched[hash] = true
      end
      if caller ~= '' then
        redis.call('ZADD', seen_key, until_, caller)
        callers = callers + 1
      end
      batch[#batch + 1] = raw
      accepted = accepted + 1
      if #batch == 1000 then
        redis.call('RPUSH', pending, unpack(batch))
        batch = {}
      end
    end
  end
end
if #batch > 0 then redis.call('RPUSH', pending, unpack(batch)) end
for hash in pairs(touched) do redis.call('PEXPIREAT', hash, expire_at) end
for key in pairs(to_mark) do redis.call('SET', ids_prefix .. key, '1', 'PX', window_ms) end
-- Expired ids are removed when new ones come: a call without any adds none to remove.
if callers > 0 then redis.call('ZREMRANGEBYSCORE', seen_key, '-inf', now) end
if accepted > 0 then redis.call('SET', since, tostring(now), 'NX') end
if accepted > 0 then redis.call('HINCRBY', stats, 'enqueued', accepted) end
if dropped > 0 then redis.call('HINCRBY', stats, 'dropped', dropped) end
if deduped > 0 then redis.call('HINCRBY', stats, 'deduplicated', deduped) end
if #suppressed > 0 then redis.call('HINCRBY', stats, 'suppressed', #suppressed) end
if tonumber(skipped) > 0 then redis.call('HINCRBY', stats, 'skipped', skipped) end
if skips ~= '' then
  local ttl, bucket_seconds, receipts_prefix, why = unpack(cjson.decode(skips))
  local receipt = receipts(ttl, bucket_seconds, receipts_prefix)
  for _, item in ipairs(why) do receipt.add(item[1], 'skipped', 0, item[2]) end
  receipt.done()
end
local trigger = 0
if accepted > 0 and len + accepted >= claim_size then
  if redis.call('SET', trigger_key, '1', 'NX', 'PX', trigger_ttl_ms) then trigger = 1 end
end
if #suppressed > 0 then return {accepted, dropped, trigger, deduped, suppressed} end
return {accepted, dropped, trigger, deduped}
