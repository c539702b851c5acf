-- run_slot: take, hold or give back one of a provider's run slots (see Deliverer.run). A slot
-- expires unless held, so a run whose worker died frees it by itself.
-- KEYS[1] tw:{p}:run:<index>  string: the holding run's token
-- ARGV[1] 'take' | 'hold' | 'release'  ARGV[2] the run's token  ARGV[3] milliseconds to expire
-- Returns 1 when done, 0 when the slot is another run's (or, for hold and release, expired).
if ARGV[1] == 'take' then
  if redis.call('SET', KEYS[1], ARGV[2], 'NX', 'PX', ARGV[3]) then return 1 end
  return 0
end
if redis.call('GET', KEYS[1]) ~= ARGV[2] then return 0 end
if ARGV[1] == 'hold' then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
else
  redis.call('DEL', KEYS[1])
end
return 1
