-- circuit_reset: an operator closes a provider's circuit; what waited for it is due now.
-- KEYS[1] tw:{p}:circuit  KEYS[2] tw:{p}:retry (zset batch id -> due time)
-- NOW: Redis TIME
-- Returns the number of retry batches made due.
redis.call('DEL', KEYS[1])
local later = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. NOW, '+inf')
for _, id in ipairs(later) do redis.call('ZADD', KEYS[2], NOW, id) end
return #later
