-- enqueue: append normalized events to one provider's pending list, within max_pending.
-- KEYS[1] tw:{p}:pending  list of serialized events, oldest first
-- KEYS[2] tw:{p}:stats    hash of counters (enqueued, dropped, skipped)
-- KEYS[3] tw:{p}:trigger  string; present while a deliver(p) message is queued
-- ARGV[1] max_pending     events beyond it are dropped (counted), never block the producer
-- ARGV[2] claim_size      a full batch waiting starts a delivery at once
-- ARGV[3] trigger_ttl_ms  how long a trigger mark lives if its message is lost
-- ARGV[4] skipped         events this provider cannot take, only counted
-- ARGV[5..] events
-- Returns {accepted, dropped, trigger(0|1)}
local max_pending = tonumber(ARGV[1])
local n = #ARGV - 4
local len = redis.call('LLEN', KEYS[1])
local room = math.min(n, math.max(0, max_pending - len))
local i = 5
while i < 5 + room do
  local last = math.min(i + 999, 4 + room)
  redis.call('RPUSH', KEYS[1], unpack(ARGV, i, last))
  i = last + 1
end
if room > 0 then redis.call('HINCRBY', KEYS[2], 'enqueued', room) end
if n > room then redis.call('HINCRBY', KEYS[2], 'dropped', n - room) end
if tonumber(ARGV[4]) > 0 then redis.call('HINCRBY', KEYS[2], 'skipped', ARGV[4]) end
local trigger = 0
if room > 0 and len + room >= tonumber(ARGV[2]) then
  if redis.call('SET', KEYS[3], '1', 'NX', 'PX', ARGV[3]) then trigger = 1 end
end
return {room, n - room, trigger}
