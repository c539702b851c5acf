-- circuit_record: what one delivery round says about the provider's health.
-- KEYS[1] tw:{p}:circuit
-- ARGV[1] kind: success | failure | throttle | credentials   NOW: Redis TIME
-- ARGV[2] threshold (consecutive failures that open)  ARGV[3] cooldown  ARGV[4] cooldown cap
-- ARGV[5] credentials cooldown  ARGV[6] wait asked by the provider (Retry-After), 0 if none
-- ARGV[7] reason  ARGV[8] failed requests in this round (a failure round counts each one, so
--                          a one-event provider opens after N failed requests, like a batching one)
-- A failure while half-open reopens at once; cooldowns double per reopening up to the cap.
-- A throttle pauses without counting a failure.
-- Returns {state, open_until, opened (0|1), now}: times are Redis time.
local kind, now = ARGV[1], NOW
local c = redis.call('HMGET', KEYS[1], 'state', 'failures', 'opens', 'open_until')
local state, failures, opens = c[1] or 'closed', tonumber(c[2] or 0), tonumber(c[3] or 0)
local open_until = tonumber(c[4] or 0)
local opened = 0
if kind == 'success' then
  redis.call('DEL', KEYS[1])
  return {'closed', '0', 0, tostring(now)}
elseif kind == 'throttle' then
  open_until = math.max(open_until, now + tonumber(ARGV[6]))
  if state == 'half' then state = 'closed' end
elseif kind == 'credentials' then
  state, opens, opened = 'open', opens + 1, 1
  open_until = now + tonumber(ARGV[5])
else
  failures = failures + math.max(1, tonumber(ARGV[8] or 1))
  if state == 'half' or failures >= tonumber(ARGV[2]) then
    opens = opens + 1
    local cooldown = math.min(tonumber(ARGV[4]), tonumber(ARGV[3]) * 2 ^ (opens - 1))
    state, opened = 'open', 1
    open_until = math.max(now + cooldown, now + tonumber(ARGV[6]))
  end
end
redis.call('HSET', KEYS[1], 'state', state, 'failures', failures, 'opens', opens,
  'open_until', open_until, 'reason', ARGV[7], 'updated', now)
return {state, tostring(open_until), opened, tostring(now)}
