-- renew: extend the lease of a batch still being sent, if this worker still holds it.
-- KEYS[1] tw:{p}:batch:<id>  KEYS[2] tw:{p}:leases
-- ARGV[1] batch id  ARGV[2] lease token  ARGV[3] lease seconds (from NOW, Redis TIME)
-- Returns 1, or 0 when the lease was lost (reaped, and maybe claimed by another worker).
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[2] then return 0 end
redis.call('ZADD', KEYS[2], 'XX', NOW + tonumber(ARGV[3]), ARGV[1])
return 1
