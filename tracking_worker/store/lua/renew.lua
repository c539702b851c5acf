-- renew: extend the lease of a batch still being sent, if this worker still holds it.
-- KEYS: batch  tw:{p}:batch:<id>   leases  tw:{p}:leases
-- ARGV: batch_id  token (the lease's)  lease (seconds from NOW, Redis TIME)
-- Returns 1, or 0 when the lease was lost (reaped, and maybe claimed by another worker).
local batch, leases = KEYS[1], KEYS[2]
local batch_id, token, lease = ARGV[1], ARGV[2], tonumber(ARGV[3])
if redis.call('HGET', batch, 'token') ~= token then return 0 end
redis.call('ZADD', leases, 'XX', NOW + lease, batch_id)
return 1
