-- route_resume: paused routes back to delivery, each once: its record deleted and its parked
-- events moved to the head of pending (they are older than what is pending), in one step.
-- KEYS: routes   tw:{p}:routes   hash: event name -> pause record (JSON, with fingerprint)
--       pending  tw:{p}:pending  list
--       since    tw:{p}:since    Redis time the oldest pending event was enqueued
--       forgetting  tw:{p}:forgetting  the people a forget is removing now (forget_lib.lua):
--                                      their parked events are dropped, counted as forgotten,
--                                      not moved behind the part of pending it has read
-- ARGV: parked_prefix  the parked lists' key prefix (tw:{p}:parked:)
--       then (route, fingerprint) pairs: a route resumes when its record's fingerprint differs
--       from the one given ('' resumes it whatever it holds: circuit reset)
-- Returns {routes resumed, events moved}.
local routes, pending, since = KEYS[1], KEYS[2], KEYS[3]
local forgetting_key, stats = KEYS[4], KEYS[5]
local parked_prefix = ARGV[1]
local resumed, moved = 0, 0
local forgotten = forgetting(forgetting_key)
for i = 2, #ARGV - 1, 2 do
  local route, fingerprint = ARGV[i], ARGV[i + 1]
  local record = redis.call('HGET', routes, route)
  local go = record ~= false
  if go and fingerprint ~= '' then
    local ok, decoded = pcall(cjson.decode, record)
    go = not ok or type(decoded) ~= 'table' or decoded.fingerprint ~= fingerprint
  end
  if go then
    redis.call('HDEL', routes, route)
    local key = parked_prefix .. route
    local events, back = redis.call('LRANGE', key, 0, -1), 0
    for j = #events, 1, -1 do
      if forgotten.matches(events[j]) then
        redis.call('HINCRBY', stats, 'forgotten', 1)
      else
        redis.call('LPUSH', pending, events[j])
        back = back + 1
      end
    end
    redis.call('DEL', key)
    if back > 0 then redis.call('SET', since, tostring(NOW), 'NX') end
    resumed, moved = resumed + 1, moved + back
  end
end
return {resumed, moved}
