-- forget_list: remove a person's events from one chunk of a list, the pending list or a paused
-- route's parked list, with their receipts (forget_lib.lua says which events are theirs).
-- KEYS: pending  tw:{p}:pending  list
--       stats    tw:{p}:stats    hash (forgotten: events removed by forget)
--       since    tw:{p}:since    deleted when the pending list is left empty (as claim does)
-- ARGV: parked_prefix    parked lists' key prefix (tw:{p}:parked:)
--       route            '': the pending list; else the parked list of this event name
--       last             the chunk's last item, by index from the tail (-1: the newest)
--       chunk            items read at most
--       receipts_ttl     seconds (receipts_lib.lua): which buckets may hold a receipt
--       receipt_bucket   seconds
--       receipts_prefix  receipts key prefix (tw:{p}:receipts:)
--       needles_len      n, then from FIRST_NEEDLE n arguments: the person (forget_lib.lua)
-- A long list takes several calls, each short, so Redis serves others in between. They read
-- from the tail towards the head by negative index: an event pushed at the tail (track) or
-- popped from the head (claim) between two calls moves no item still waiting past a chunk
-- unread (pushed ones are read again, harmless); what a call removes moves the items before
-- it towards the tail, which the next `last` allows for. An event claimed before its chunk was
-- read is in a batch, where forget_batches finds it (store/erasure.py calls that after).
-- The matches become a tombstone, removed by one LREM from the nearer end.
-- Returns {removed, receipts removed, next last, done (1: the head was reached)}.
local pending, stats, since = KEYS[1], KEYS[2], KEYS[3]
local parked_prefix, route = ARGV[1], ARGV[2]
local last, chunk = tonumber(ARGV[3]), tonumber(ARGV[4])
local receipts_ttl, receipt_bucket, receipts_prefix = ARGV[5], ARGV[6], ARGV[7]
local needles_len = tonumber(ARGV[8])
local FIRST_NEEDLE = 9
local TOMBSTONE = '\0tracking_worker:forgotten\0'
local list = pending
if route ~= '' then list = parked_prefix .. route end
local who = person(needles_at(FIRST_NEEDLE, needles_len))
local first = last - chunk + 1
local items = redis.call('LRANGE', list, first, last)
-- Fewer than asked: the range went past the head (LRANGE clamps it to 0).
local done = #items < chunk and 1 or 0
if done == 1 then first = -#items + last + 1 end
local ids = {}
for i, raw in ipairs(items) do
  if who.matches(raw) then
    redis.call('LSET', list, first + i - 1, TOMBSTONE)
    ids[#ids + 1] = event_id(raw) or false
  end
end
local removed = #ids
if removed > 0 then
  local from_tail = -last <= redis.call('LLEN', list) / 2
  redis.call('LREM', list, from_tail and -removed or removed, TOMBSTONE)
  redis.call('HINCRBY', stats, 'forgotten', removed)
  if route == '' and redis.call('LLEN', list) == 0 then redis.call('DEL', since) end
end
local known = {}
for _, id in ipairs(ids) do if id then known[#known + 1] = id end end
local receipts_removed = forget_receipts(known, receipts_ttl, receipt_bucket, receipts_prefix)
return {removed, receipts_removed, last - chunk + removed, done}
