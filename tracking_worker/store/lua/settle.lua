-- settle: record the outcome of every event of a claimed batch in one step.
-- KEYS: batch    tw:{p}:batch:<batch_id>
--       leases   tw:{p}:leases
--       retry    tw:{p}:retry
--       dead     tw:{p}:dead (stream)
--       stats    tw:{p}:stats
--       latency  tw:{p}:latency
--       circuit  tw:{p}:circuit
--       routes   tw:{p}:routes (hash: paused event name -> its pause record, JSON)
-- ARGV: batch_id, token      the batch and its lease token
--       not_before           the retry is due no earlier (absolute, Redis time: the circuit's
--                            open_until, 0 for none)
--       delivered            events delivered
--       requests             requests sent
--       retry_events         events to retry (JSON array, '' when none)
--       retry_count          how many
--       retry_delay          seconds from NOW (Redis TIME)
--       count_attempt        attempts to add (0 when the provider was paused, not at fault)
--       last_error
--       dead_max             dead stream max length
--       receipts_ttl         seconds; 0: no receipts
--       receipt_bucket       seconds
--       receipts_prefix      receipts key prefix (tw:{p}:receipts:)
--       delivered_ids        delivered event ids (JSON array)
--       closes_circuit       '1' when every request of the batch succeeded: the circuit closes,
--                            as circuit_record does for a success (one round trip, not two),
--                            unless a held pause (configuration, storm) is on
--       parked_prefix        parked lists' key prefix (tw:{p}:parked:)
--       parked               events of paused routes, JSON {route: {record, events}}, '' none:
--                            each route's record is written unless one is there (HSETNX) and
--                            its events appended to its parked list, in this same step
--       delivered_as         the state the delivered events get, counted and receipted:
--                            'delivered', or 'dry_run' (a dry run rendered them, sent none)
--       dropped              events a before_send hook dropped, JSON [[event id, reason], ...],
--                            '' none: counted as dropped (and dropped:before_send), receipted
--                            dropped with the hook's reason, never sent
--       dead_ttl             seconds a dead letter is kept (dead_lib.lua); 0: no age limit
--       histogram_len        n, then from FIRST_HISTOGRAM n arguments: latency histogram
--                            increments, field and amount pairs (see store/metrics.py); a latency
--                            key of the wrong type is left alone, never an error: a metric must
--                            not fail a delivery
--       dead letters, from first_dead on, 6 arguments each: event, reason, status, excerpt,
--                            attempts, kind (each kind is also counted: dead:<kind>, e.g.
--                            dead:expired, dead:rejected)
-- The dead stream keeps dead_max entries: the oldest beyond are trimmed, counted as
-- dead_trimmed, and reported to the caller, never silently. Letters older than dead_ttl go at
-- each write too, counted as dead_aged.
-- Events a forget removed while the batch was leased (its field `forgotten`, forget_batches.lua)
-- are neither retried, dead-lettered nor parked, and get no receipt: the worker's arguments
-- still hold them, this batch's own field says which they are.
-- Receipts (receipts_lib.lua): delivered (or dry_run), with the attempts the batch had used
-- plus this one; dead, with the entry's attempts and reason; retry, with the batch's new count
-- and the error; dropped, with the hook's reason.
-- Returns {1, trimmed, aged}, or {-1, 0, 0} when the lease was lost (reaped and maybe claimed
-- again): nothing changes, the batch will be sent again (at-least-once); the requests were made
-- all the same, so the circuit and the histogram are written first.
local batch, leases, retry, dead, stats = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local latency, circuit, routes = KEYS[6], KEYS[7], KEYS[8]
local batch_id, token, not_before = ARGV[1], ARGV[2], tonumber(ARGV[3])
local delivered, requests = tonumber(ARGV[4]), ARGV[5]
local retry_events, retry_count, retry_delay = ARGV[6], tonumber(ARGV[7]), tonumber(ARGV[8])
local count_attempt, last_error, dead_max = ARGV[9], ARGV[10], ARGV[11]
local receipts_ttl, receipt_bucket, receipts_prefix = ARGV[12], ARGV[13], ARGV[14]
local delivered_ids, closes_circuit = ARGV[15], ARGV[16]
local parked_prefix, parked, delivered_as = ARGV[17], ARGV[18], ARGV[19]
local dropped, dead_ttl = ARGV[20], ARGV[21]
local histogram_len = tonumber(ARGV[22])
local FIRST_HISTOGRAM = 23
local first_dead = FIRST_HISTOGRAM + histogram_len
if closes_circuit == '1' then
  -- as circuit_record: a configuration pause or a reject storm holds until a reset, and a
  -- success now is a request sent before it began
  local c = redis.call('HMGET', circuit, 'state', 'kind')
  if not (c[1] == 'open' and (c[2] == 'configuration' or c[2] == 'storm')) then
    redis.call('DEL', circuit)
  end
end
for f = FIRST_HISTOGRAM, first_dead - 1, 2 do
  redis.pcall('HINCRBY', latency, ARGV[f], ARGV[f + 1])
end
local held = redis.call('HMGET', batch, 'token', 'attempts', 'forgotten')
if held[1] ~= token then return {-1, 0, 0} end
-- The forgotten events, and their ids; nil when a forget left this batch alone.
local gone, gone_ids = nil, {}
if held[3] then
  gone = {}
  for _, raw in ipairs(cjson.decode(held[3])) do
    gone[raw] = true
    local id = event_id(raw)
    if id then gone_ids[id] = true end
  end
  if retry_events ~= '' then
    local kept = {}
    for _, raw in ipairs(cjson.decode(retry_events)) do
      if not gone[raw] then kept[#kept + 1] = raw end
    end
    retry_events, retry_count = '', #kept
    if #kept > 0 then retry_events = cjson.encode(kept) end
  end
end
redis.call('ZREM', leases, batch_id)
if delivered > 0 then redis.call('HINCRBY', stats, delivered_as, delivered) end
if parked ~= '' then
  for route, set_aside in pairs(cjson.decode(parked)) do
    redis.call('HSETNX', routes, route, set_aside.record)
    for _, event in ipairs(set_aside.events) do
      if not (gone and gone[event]) then redis.call('RPUSH', parked_prefix .. route, event) end
    end
  end
end
if tonumber(requests) > 0 then redis.call('HINCRBY', stats, 'requests', requests) end
local receipt = receipts(receipts_ttl, receipt_bucket, receipts_prefix)
if receipt.on then
  local attempts = tonumber(held[2] or 0) + 1
  for _, id in ipairs(cjson.decode(delivered_ids)) do
    if not gone_ids[id] then receipt.add(id, delivered_as, attempts) end
  end
end
if dropped ~= '' then
  local attempts, counted = tonumber(held[2] or 0) + 1, 0
  for _, pair in ipairs(cjson.decode(dropped)) do
    if not gone_ids[pair[1]] then
      receipt.add(pair[1], 'dropped', attempts, pair[2])
      counted = counted + 1
    end
  end
  if counted > 0 then
    redis.call('HINCRBY', stats, 'dropped', counted)
    redis.call('HINCRBY', stats, 'dropped:before_send', counted)
  end
end
local dead_count, trimmed, aged = 0, 0, 0
local before = 0
if #ARGV >= first_dead + 5 then before = redis.call('XLEN', dead) end
local i = first_dead
while i + 5 <= #ARGV do
  local event, reason, status, excerpt = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local attempts, kind = ARGV[i + 4], ARGV[i + 5]
  if not (gone and gone[event]) then
    redis.call('XADD', dead, 'MAXLEN', dead_max, '*',
      'event', event, 'reason', reason, 'status', status, 'excerpt', excerpt,
      'attempts', attempts, 'kind', kind, 'batch', batch_id, 'dead_at', NOW)
    redis.call('HINCRBY', stats, 'dead:' .. kind, 1)
    receipt.add(event_id(event), 'dead', attempts, reason)
    dead_count = dead_count + 1
  end
  i = i + 6
end
if dead_count > 0 then
  redis.call('HINCRBY', stats, 'dead', dead_count)
  trimmed = before + dead_count - redis.call('XLEN', dead)
  if trimmed > 0 then redis.call('HINCRBY', stats, 'dead_trimmed', trimmed) end
  aged = trim_aged(dead, stats, dead_ttl)
end
if retry_events ~= '' then
  redis.call('HSET', batch, 'events', retry_events, 'count', retry_count, 'last_error', last_error)
  -- The claimed events' other form (claim.lua), and those a forget took out of them.
  redis.call('HDEL', batch, 'lines', 'forgotten')
  local attempts = redis.call('HINCRBY', batch, 'attempts', count_attempt)
  if receipt.on then
    for _, raw in ipairs(cjson.decode(retry_events)) do
      receipt.add(event_id(raw), 'retry', attempts, last_error)
    end
  end
  redis.call('HDEL', batch, 'token')
  redis.call('ZADD', retry, math.max(NOW + retry_delay, not_before), batch_id)
  redis.call('HINCRBY', stats, 'retried', retry_count)
  redis.call('HINCRBY', stats, 'in_retry', retry_count)
else
  redis.call('DEL', batch)
end
receipt.done()
return {1, trimmed, aged}
