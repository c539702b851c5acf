-- replay: move dead letters back to the pending list (after the cause was fixed).
-- KEYS: dead     tw:{p}:dead (stream)
--       pending  tw:{p}:pending
--       stats    tw:{p}:stats
--       since    tw:{p}:since (when the pending list started filling; set if it was empty)
-- ARGV: receipts_ttl         seconds; 0: no receipts
--       receipt_bucket       seconds
--       receipts_prefix      receipts key prefix (tw:{p}:receipts:)
--       moves, from FIRST_MOVE on, pairs: stream entry id, event to enqueue (the dead event
--                            with a fresh queued_at)
-- An entry already gone (replayed concurrently, trimmed) is skipped, so nothing is doubled.
-- Each event moved gets a `pending` receipt (receipts_lib.lua), in the step that moves it:
-- its `dead` receipt is the newer state otherwise, and `trace` would read it until a worker
-- claims the event.
-- Returns the number moved.
local dead, pending, stats, since = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local receipts_ttl, receipt_bucket, receipts_prefix = ARGV[1], ARGV[2], ARGV[3]
local FIRST_MOVE = 4
local receipt = receipts(receipts_ttl, receipt_bucket, receipts_prefix)
local moved = 0
for i = FIRST_MOVE, #ARGV, 2 do
  if redis.call('XDEL', dead, ARGV[i]) == 1 then
    redis.call('RPUSH', pending, ARGV[i + 1])
    receipt.add(event_id(ARGV[i + 1]), 'pending', 0)
    moved = moved + 1
  end
end
if moved > 0 then
  redis.call('HINCRBY', stats, 'replayed', moved)
  redis.call('SET', since, tostring(NOW), 'NX')
end
receipt.done()
return moved
