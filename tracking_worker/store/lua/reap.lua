-- reap: return batches whose lease expired (their worker died, hung or was paused) to retry.
-- KEYS[1] tw:{p}:leases  KEYS[2] tw:{p}:retry  KEYS[3] tw:{p}:stats
-- ARGV[1] batch key prefix (tw:{p}:batch:, same {p} hash tag)  ARGV[2] limit
-- ARGV[3] receipts_ttl (seconds; 0: no receipts)  ARGV[4] receipt bucket seconds
-- ARGV[5] receipts key prefix (tw:{p}:receipts:)
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
local receipt = receipts(ARGV[3], ARGV[4], ARGV[5])
local lease_error = 'lease expired: worker lost during send'
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', NOW, 'LIMIT', 0, tonumber(ARGV[2]))
local reaped, lost = 0, 0
for _, id in ipairs(ids) do
  local key = ARGV[1] .. id
  redis.call('ZREM', KEYS[1], id)
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
    redis.call('ZADD', KEYS[2], NOW, id)
    local count = tonumber(redis.call('HGET', key, 'count') or 0)
    redis.call('HINCRBY', KEYS[3], 'in_retry', count)
    reaped = reaped + 1
  end
end
receipt.done()
if reaped > 0 then redis.call('HINCRBY', KEYS[3], 'reaped', reaped) end
if lost > 0 then redis.call('HINCRBY', KEYS[3], 'lost', lost) end
return {reaped, lost}
