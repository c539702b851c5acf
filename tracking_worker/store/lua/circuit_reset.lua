-- circuit_reset: an operator closes a provider's circuit; what waited for it is due now.
-- KEYS: circuit  tw:{p}:circuit
--       retry    tw:{p}:retry (zset batch id -> due time)
-- ARGV: none
-- NOW: Redis TIME
-- Returns the number of retry batches made due.
local circuit, retry = KEYS[1], KEYS[2]
redis.call('DEL', circuit)
local later = redis.call('ZRANGEBYSCORE', retry, '(' .. NOW, '+inf')
for _, id in ipairs(later) do redis.call('ZADD', retry, NOW, id) end
return #later
