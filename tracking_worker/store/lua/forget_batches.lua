-- forget_batches: remove a person's events from claimed and retrying batches, with their
-- receipts (forget_lib.lua says which events are theirs).
-- KEYS: retry   tw:{p}:retry   zset batch id -> due time
--       stats   tw:{p}:stats   hash (in_retry gauge, forgotten)
-- ARGV: batch_prefix     batch key prefix (tw:{p}:batch:, same {p} hash tag)
--       receipts_ttl     seconds (receipts_lib.lua): which buckets may hold a receipt
--       receipt_bucket   seconds
--       receipts_prefix  receipts key prefix (tw:{p}:receipts:)
--       needles_len      n, then from FIRST_NEEDLE n arguments: the person (forget_lib.lua)
--       batch ids, after the needles: the batches to look at (a batch gone meanwhile, settled,
--                        is skipped; an id keeps its batch from retry to lease and back)
-- Each batch keeps the form its events had (claim.lua): `lines`, or `events` as a JSON array;
-- a batch left with no event holds events '[]', never an empty `lines` (one empty event).
-- A batch waiting in retry (no token) left empty is deleted and leaves the retry set; the
-- in_retry gauge goes down by what was removed from retry batches.
-- A leased batch (a worker holds its token and its events in memory: claim.lua sets the
-- token, settle and reap delete it) keeps its lease, so its other events are settled once, as
-- sent. The removed events are added to its field `forgotten`, a JSON array of them as they
-- were stored, which settle.lua reads: none of them goes back to retry, to the dead letters or
-- to a parked list, and none gets a receipt. Its worker may still send those it had not sent
-- until it settles the batch: store/erasure.py waits for that, so nothing of them is sent
-- after forget returns.
-- Returns {removed from retry batches, removed from leased batches, receipts removed, then the
-- id and token of each leased batch that held the person's events}.
local retry, stats = KEYS[1], KEYS[2]
local batch_prefix = ARGV[1]
local receipts_ttl, receipt_bucket, receipts_prefix = ARGV[2], ARGV[3], ARGV[4]
local needles_len = tonumber(ARGV[5])
local FIRST_NEEDLE = 6
local who = person(needles_at(FIRST_NEEDLE, needles_len))
local in_retry, in_flight, held, ids = 0, 0, {}, {}

local function forget_in(id)
  local key = batch_prefix .. id
  local got = redis.call('HMGET', key, 'lines', 'events', 'token', 'forgotten')
  local items, ok = nil, true
  if got[1] then
    items = {}  -- a claimed batch's newline-joined events (see claim.lua)
    for raw in string.gmatch(got[1] .. '\n', '([^\n]*)\n') do items[#items + 1] = raw end
  elseif got[2] then ok, items = pcall(cjson.decode, got[2]) end
  if not ok or type(items) ~= 'table' then return end  -- gone, or corrupt: claim reports it
  local kept, gone = {}, {}
  for _, raw in ipairs(items) do
    if who.matches(raw) then gone[#gone + 1] = raw else kept[#kept + 1] = raw end
  end
  if #gone == 0 then return end
  for _, raw in ipairs(gone) do ids[#ids + 1] = event_id(raw) end
  if got[1] and #kept > 0 then
    redis.call('HSET', key, 'lines', table.concat(kept, '\n'), 'count', #kept)
  else
    redis.call('HSET', key, 'events', #kept > 0 and cjson.encode(kept) or '[]', 'count', #kept)
    redis.call('HDEL', key, 'lines')
  end
  if got[3] then
    local ok_marked, marked = pcall(cjson.decode, got[4] or '[]')
    if not ok_marked or type(marked) ~= 'table' then marked = {} end
    for _, raw in ipairs(gone) do marked[#marked + 1] = raw end
    redis.call('HSET', key, 'forgotten', cjson.encode(marked))
    in_flight = in_flight + #gone
    held[#held + 1] = id
    held[#held + 1] = got[3]
  else
    in_retry = in_retry + #gone
    redis.call('HINCRBY', stats, 'in_retry', -#gone)
    if #kept == 0 then
      redis.call('ZREM', retry, id)
      redis.call('DEL', key)
    end
  end
end

for i = FIRST_NEEDLE + needles_len, #ARGV do forget_in(ARGV[i]) end
if in_retry + in_flight > 0 then
  redis.call('HINCRBY', stats, 'forgotten', in_retry + in_flight)
end
local receipts_removed = forget_receipts(ids, receipts_ttl, receipt_bucket, receipts_prefix)
local reply = {in_retry, in_flight, receipts_removed}
for _, part in ipairs(held) do reply[#reply + 1] = part end
return reply
