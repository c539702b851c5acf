-- route_resume: paused routes back to delivery, each once: its record deleted and its parked
-- events moved to the head of pending (they are older than what is pending), in one step.
-- KEYS: routes   tw:{p}:routes   hash: event name -> pause record (JSON, with fingerprint)
--       pending  tw:{p}:pending  list
--       since    tw:{p}:since    Redis time the oldest pending event was enqueued
-- ARGV: parked_prefix  the parked lists' key prefix (tw:{p}:parked:)
--       then (route, fingerprint) pairs: a route resumes when its record's fingerprint differs
--       from the one given ('' resumes it whatever it holds: circuit reset)
-- Returns {routes resumed, events moved}.
local routes, pending, since = KEYS[1], KEYS[2], KEYS[3]
local parked_prefix = ARGV[1]
local resumed, moved = 0, 0
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
    local events = redis.call('LRANGE', key, 0, -1)
    for j = #events, 1, -1 do redis.call('LPUSH', pending, events[j]) end
    redis.call('DEL', key)
    if #events > 0 then redis.call('SET', since, tostring(NOW), 'NX') end
    resumed, moved = resumed + 1, moved + #events
  end
end
return {resumed, moved}
