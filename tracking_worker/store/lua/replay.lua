-- replay: move dead letters back to the pending list (after the cause was fixed).
-- KEYS: dead     tw:{p}:dead (stream)
--       pending  tw:{p}:pending
--       stats    tw:{p}:stats
--       since    tw:{p}:since (when the pending list started filling; set if it was empty)
--       forgetting  tw:{p}:forgetting (the people a forget is removing now: forget_lib.lua)
-- ARGV: receipts_ttl         seconds; 0: no receipts
--       receipt_bucket       seconds
--       receipts_prefix      receipts key prefix (tw:{p}:receipts:)
--       moves, from FIRST_MOVE on, pairs: stream entry id, event to enqueue (the dead event
--                            with a fresh queued_at)
-- An entry already gone (replayed concurrently, trimmed) is skipped, so nothing is doubled.
-- Each event moved gets a `pending` receipt (receipts_lib.lua), in the step that moves it:
-- its `dead` receipt is the newer state otherwise, and `trace` would read it until a worker
-- claims the event.
-- A letter of a person a forget is removing right now leaves the stream and is not queued
-- (its receipts go too, counted as forgotten): that forget may have read the pending list
-- already, and the event must not come back behind it.
-- Returns the number moved.
local dead, pending, stats, since = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local forgetting_key = KEYS[5]
local receipts_ttl, receipt_bucket, receipts_prefix = ARGV[1], ARGV[2], ARGV[3]
local FIRST_MOVE = 4
local receipt = receipts(receipts_ttl, receipt_bucket, receipts_prefix)
local forgotten = forgetting(forgetting_key)
local moved, dropped = 0, {}
for i = FIRST_MOVE, #ARGV, 2 do
  if redis.call('XDEL', dead, ARGV[i]) == 1 then
    if forgotten.matches(ARGV[i + 1]) then
      dropped[#dropped + 1] = event_id(ARGV[i + 1]) or false
    else
      redis.call('RPUSH', pending, ARGV[i + 1])
      receipt.add(event_id(ARGV[i + 1]), 'pending', 0)
      moved = moved + 1
    end
  end
end
if #dropped > 0 then
  redis.call('HINCRBY', stats, 'forgotten', #dropped)
  local ids = {}
  for _, id in ipairs(dropped) do if id then ids[#ids + 1] = id end end
  forget_receipts(ids, receipts_ttl, receipt_bucket, receipts_prefix)
end
if moved > 0 then
  redis.call('HINCRBY', stats, 'replayed', moved)
  redis.call('SET', since, tostring(NOW), 'NX')
end
receipt.done()
return moved
