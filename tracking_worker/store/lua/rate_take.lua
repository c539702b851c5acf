-- rate_take: take one request slot from a provider's shared rate limit (all workers).
-- KEYS: rate  tw:{p}:rate  hash: tokens, at (a token bucket refilled at `rate` per second)
-- ARGV: rate   requests per second
--       burst  bucket size
-- NOW: Redis TIME
-- Returns '0' when a slot was taken, else the seconds to wait before asking again.
local bucket = KEYS[1]
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local now = NOW
local b = redis.call('HMGET', bucket, 'tokens', 'at')
local tokens = tonumber(b[1] or burst)
local at = tonumber(b[2] or now)
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local wait = '0'
if tokens >= 1 - 1e-9 then  -- float rounding must not make a due slot wait forever
  tokens = math.max(0, tokens - 1)
else
  wait = tostring((1 - tokens) / rate)
end
redis.call('HSET', bucket, 'tokens', tokens, 'at', now)
redis.call('EXPIRE', bucket, math.ceil(burst / rate) + 60)
return wait
