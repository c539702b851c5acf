-- circuit_release: a half-open probe that found nothing to send gives its slot back at once,
-- so the next worker with work probes now instead of a whole probe lease later.
-- KEYS[1] tw:{p}:circuit
-- Returns 1 when a probe slot was released, else 0.
if redis.call('HGET', KEYS[1], 'state') ~= 'half' then return 0 end
redis.call('HSET', KEYS[1], 'probe_until', 0)
return 1
