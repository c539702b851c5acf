-- reap: return batches whose lease expired (their worker died, hung or was paused) to retry.
-- KEYS: leases  tw:{p}:leases   retry  tw:{p}:retry   stats  tw:{p}:stats
-- ARGV: batch_prefix     batch key prefix (tw:{p}:batch:, same {p} hash tag)
--       limit            batches at most
--       receipts_ttl     seconds; 0: no receipts
--       receipt_bucket   seconds
--       receipts_prefix  receipts key prefix (tw:{p}:receipts:)
-- NOW is Redis TIME: a tick host whose clock runs ahead cannot reap a live lease.
-- The attempt counts: a batch that kills its worker every time must end dead, not loop.
-- A leased id whose hash is gone (evicted, deleted by hand) is dropped and counted as lost.
-- Its events go back as a JSON array (field events), the form every version's claim reads,
-- so a worker not yet upgraded can take over a batch a newer one left (see claim.lua).
-- Each event of a reaped batch gets a retry receipt (receipts_lib.lua) with the lease error:
-- claim.lua writes none (the lease showed it in flight), so without it an event reaped on its
-- first attempt would have no receipt until its next settle.
-- Returns {reaped, lost}.

-- A claimed batch's newline-joined events (field `lines`, see claim.lua) as a Lua array.
local function split_lines(events)
  local items, start = {}, 1
  while true do
    local stop = string.find(events, '\n', start, true)
    if not stop then
      items[#items + 1] = string.sub(events, start)
      return items
    end
    items[#items + 1] = string.sub(events, start, stop - 1)
    start = stop + 1
  end
end
local leases, retry, stats = KEYS[1], KEYS[2], KEYS[3]
local batch_prefix, limit = ARGV[1], tonumber(ARGV[2])
local receipts_ttl, receipt_bucket, receipts_prefix = ARGV[3], ARGV[4], ARGV[5]
local receipt = receipts(receipts_ttl, receipt_bucket, receipts_prefix)
local lease_error = 'lease expired: worker lost during send'
local ids = redis.call('ZRANGEBYSCORE', leases, '-inf', NOW, 'LIMIT', 0, limit)
local reaped, lost = 0, 0
for _, id in ipairs(ids) do
  local key = batch_prefix .. id
  redis.call('ZREM', leases, id)
  if redis.call('EXISTS', key) == 0 then
    lost = lost + 1
  else
    redis.call('HDEL', key, 'token')
    local got = redis.call('HMGET', key, 'lines', 'events')
    local items
    if got[1] then
      items = split_lines(got[1])
      redis.call('HSET', key, 'events', cjson.encode(items))
      redis.call('HDEL', key, 'lines')
    end
    local attempts = redis.call('HINCRBY', key, 'attempts', 1)
    redis.call('HSET', key, 'last_error', lease_error)
    if receipt.on then
      if not items and got[2] then
        local ok, decoded = pcall(cjson.decode, got[2])
        items = ok and type(decoded) == 'table' and decoded or {}
      end
      for _, raw in ipairs(items or {}) do
        if type(raw) == 'string' then
          receipt.add(event_id(raw), 'retry', attempts, lease_error)
        end
      end
    end
    redis.call('ZADD', retry, NOW, id)
    local count = tonumber(redis.call('HGET', key, 'count') or 0)
    redis.call('HINCRBY', stats, 'in_retry', count)
    reaped = reaped + 1
  end
end
receipt.done()
if reaped > 0 then redis.call('HINCRBY', stats, 'reaped', reaped) end
if lost > 0 then redis.call('HINCRBY', stats, 'lost', lost) end
return {reaped, lost}
