-- circuit_reset: an operator closes a provider's circuit; what waited for it is due now.
-- KEYS: circuit  tw:{p}:circuit
--       retry    tw:{p}:retry (zset batch id -> due time)
-- ARGV: changed_from  '' closes whatever holds it; a fingerprint closes only a configuration
--                     pause recorded with other settings (a worker started with changed ones)
-- NOW: Redis TIME
-- Returns the number of retry batches made due, or -1 when nothing was closed.
local circuit, retry = KEYS[1], KEYS[2]
local changed_from = ARGV[1]
if changed_from ~= '' then
  local c = redis.call('HMGET', circuit, 'kind', 'fingerprint')
  if c[1] ~= 'configuration' or c[2] == changed_from then return -1 end
end
redis.call('DEL', circuit)
local later = redis.call('ZRANGEBYSCORE', retry, '(' .. NOW, '+inf')
for _, id in ipairs(later) do redis.call('ZADD', retry, NOW, id) end
return #later
