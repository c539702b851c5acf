-- circuit_record: what one delivery round says about the provider's health.
-- KEYS: circuit  tw:{p}:circuit
-- ARGV: kind                  success | failure | throttle | credentials | configuration | rejected
--       threshold             consecutive failures that open
--       cooldown, cooldown_cap, credentials_cooldown   seconds
--       wait                  asked by the provider (Retry-After), 0 if none
--       reason
--       failed_requests       in this round (a failure round counts each one, so a one-event
--                             provider opens after N failed requests, like a batching one)
--       setting, fingerprint  a configuration pause: the setting the provider's answer names,
--                             and the fingerprint of the provider's settings it was given with
--       storm_batches         rejected: this many batches in a row whose every event was
--                             rejected for the same reason (the reason) open it as a storm
-- NOW: Redis TIME
-- A failure while half-open reopens at once; cooldowns double per reopening up to the cap.
-- A throttle pauses without counting a failure. A configuration pause (and a reject storm)
-- holds until circuit_reset: our settings are wrong, waiting does not help, and nothing a
-- round says changes it. Not even a success: nothing is sent while it holds, so a success
-- is the late answer of a request sent before the pause (the settings are the same).
-- Returns {state, open_until, opened (0|1), now}: times are Redis time.
local circuit = KEYS[1]
local kind, threshold = ARGV[1], tonumber(ARGV[2])
local cooldown, cooldown_cap = tonumber(ARGV[3]), tonumber(ARGV[4])
local credentials_cooldown, wait = tonumber(ARGV[5]), tonumber(ARGV[6])
local reason, failed_requests = ARGV[7], tonumber(ARGV[8] or 1)
local setting, fingerprint, storm_batches = ARGV[9], ARGV[10], tonumber(ARGV[11])
local HOLD = 10 * 365 * 86400  -- until a reset: the pause's end as a time, not a special value
local now = NOW
local c = redis.call('HMGET', circuit, 'state', 'failures', 'opens', 'open_until', 'kind',
  'reason', 'storm')
local state, failures, opens = c[1] or 'closed', tonumber(c[2] or 0), tonumber(c[3] or 0)
local open_until = tonumber(c[4] or 0)
local held = (c[5] == 'configuration' or c[5] == 'storm') and state == 'open'
local opened = 0
local storm = 0
if held then
  return {state, tostring(open_until), 0, tostring(now)}
elseif kind == 'success' then
  redis.call('DEL', circuit)
  return {'closed', '0', 0, tostring(now)}
elseif kind == 'configuration' then
  state, opens, opened = 'open', opens + 1, 1
  open_until = now + HOLD
elseif kind == 'rejected' then
  if c[6] == reason then storm = tonumber(c[7] or 0) + 1 else storm = 1 end
  if storm_batches > 0 and storm >= storm_batches then
    state, opens, opened, kind = 'open', opens + 1, 1, 'storm'
    open_until = now + HOLD
    setting = 'reject storm'
  else
    -- not a pause: the provider answers; remember the reason to count the next batch
    if state == 'half' then state = 'closed' end  -- a probe answered: the provider is up
    redis.call('HSET', circuit, 'state', state, 'reason', reason, 'storm', storm, 'updated', now)
    return {state, tostring(open_until), 0, tostring(now)}
  end
elseif kind == 'throttle' then
  open_until = math.max(open_until, now + wait)
  if state == 'half' then state = 'closed' end
elseif kind == 'credentials' then
  state, opens, opened = 'open', opens + 1, 1
  open_until = now + credentials_cooldown
else
  failures = failures + math.max(1, failed_requests)
  if state == 'half' or failures >= threshold then
    opens = opens + 1
    local pause = math.min(cooldown_cap, cooldown * 2 ^ (opens - 1))
    state, opened = 'open', 1
    open_until = math.max(now + pause, now + wait)
  end
end
redis.call('HSET', circuit, 'state', state, 'failures', failures, 'opens', opens,
  'open_until', open_until, 'reason', reason, 'updated', now, 'kind', kind,
  'setting', setting, 'fingerprint', fingerprint, 'storm', storm)
return {state, tostring(open_until), opened, tostring(now)}
