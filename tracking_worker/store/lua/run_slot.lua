-- run_slot: take, hold or give back one of a provider's run slots (see Deliverer.run). A slot
-- expires unless held, so a run whose worker died frees it by itself.
-- KEYS: run_slot  tw:{p}:running:<index>  string: the holding run's token
-- ARGV: action        'take' | 'hold' | 'release'
--       token         the run's
--       milliseconds  to expire
-- Returns 1 when done, 0 when the slot is another run's (or, for hold and release, expired).
local slot = KEYS[1]
local action, token, milliseconds = ARGV[1], ARGV[2], ARGV[3]
if action == 'take' then
  if redis.call('SET', slot, token, 'NX', 'PX', milliseconds) then return 1 end
  return 0
end
if redis.call('GET', slot) ~= token then return 0 end
if action == 'hold' then
  redis.call('PEXPIRE', slot, milliseconds)
else
  redis.call('DEL', slot)
end
return 1
