-- rate_take: take one request slot from a provider's shared rate limit (all workers).
-- KEYS[1] tw:{p}:rate  hash: tokens, at (a token bucket refilled at `rate` per second)
-- ARGV[1] rate (requests per second)  ARGV[2] burst (bucket size)  NOW: Redis TIME
-- Returns '0' when a slot was taken, else the seconds to wait before asking again.
local now, rate, burst = NOW, tonumber(ARGV[1]), tonumber(ARGV[2])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(b[1] or burst)
local at = tonumber(b[2] or now)
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local wait = '0'
if tokens >= 1 - 1e-9 then  -- float rounding must not make a due slot wait forever
  tokens = math.max(0, tokens - 1)
else
  wait = tostring((1 - tokens) / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'at', now)
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 60)
return wait
