-- replay: move dead letters back to the pending list (after the cause was fixed).
-- KEYS: dead     tw:{p}:dead (stream)
--       pending  tw:{p}:pending
--       stats    tw:{p}:stats
--       since    tw:{p}:since (when the pending list started filling; set if it was empty)
-- ARGV: moves, pairs: stream entry id, event to enqueue (the dead event with a fresh queued_at)
-- An entry already gone (replayed concurrently, trimmed) is skipped, so nothing is doubled.
-- Returns the number moved.
local dead, pending, stats, since = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local FIRST_MOVE = 1
local moved = 0
for i = FIRST_MOVE, #ARGV, 2 do
  if redis.call('XDEL', dead, ARGV[i]) == 1 then
    redis.call('RPUSH', pending, ARGV[i + 1])
    moved = moved + 1
  end
end
if moved > 0 then
  redis.call('HINCRBY', stats, 'replayed', moved)
  redis.call('SET', since, tostring(NOW), 'NX')
end
return moved
