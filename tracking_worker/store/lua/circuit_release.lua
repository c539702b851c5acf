-- circuit_release: a half-open probe that found nothing to send gives its slot back at once,
-- so the next worker with work probes now instead of a whole probe lease later.
-- KEYS: circuit  tw:{p}:circuit
-- ARGV: none
-- Returns 1 when a probe slot was released, else 0.
local circuit = KEYS[1]
if redis.call('HGET', circuit, 'state') ~= 'half' then return 0 end
redis.call('HSET', circuit, 'probe_until', 0)
return 1
