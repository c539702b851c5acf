-- replay: move dead letters back to the pending list (after the cause was fixed).
-- KEYS[1] tw:{p}:dead (stream)  KEYS[2] tw:{p}:pending  KEYS[3] tw:{p}:stats
-- KEYS[4] tw:{p}:since (when the pending list started filling; set if it was empty)
-- ARGV pairs: stream entry id, event to enqueue (the dead event with a fresh queued_at)
-- An entry already gone (replayed concurrently, trimmed) is skipped, so nothing is doubled.
-- Returns the number moved.
local moved = 0
for i = 1, #ARGV, 2 do
  if redis.call('XDEL', KEYS[1], ARGV[i]) == 1 then
    redis.call('RPUSH', KEYS[2], ARGV[i + 1])
    moved = moved + 1
  end
end
if moved > 0 then
  redis.call('HINCRBY', KEYS[3], 'replayed', moved)
  redis.call('SET', KEYS[4], tostring(NOW), 'NX')
end
return moved
