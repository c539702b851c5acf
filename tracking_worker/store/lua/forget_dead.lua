-- forget_dead: remove a person's dead letters from one chunk of the dead stream, with their
-- receipts (forget_lib.lua says which events are theirs: a letter's field `event`).
-- KEYS: dead   tw:{p}:dead   stream
--       stats  tw:{p}:stats  hash (forgotten)
-- ARGV: start            the first entry id to read (inclusive; '-' for the oldest)
--       chunk            entries read at most
--       receipts_ttl     seconds (receipts_lib.lua): which buckets may hold a receipt
--       receipt_bucket   seconds
--       receipts_prefix  receipts key prefix (tw:{p}:receipts:)
--       needles_len      n, then from FIRST_NEEDLE n arguments: the person (forget_lib.lua)
-- Oldest first, a chunk per call; new letters are added at the newest end, so each call goes on
-- from the entry after the last one read (store/erasure.py works out its id).
-- Returns {removed, receipts removed, the last entry id read ('' when none), done}.
local dead, stats = KEYS[1], KEYS[2]
local start, chunk = ARGV[1], tonumber(ARGV[2])
local receipts_ttl, receipt_bucket, receipts_prefix = ARGV[3], ARGV[4], ARGV[5]
local needles_len = tonumber(ARGV[6])
local FIRST_NEEDLE = 7
local who = person(needles_at(FIRST_NEEDLE, needles_len))
local entries = redis.call('XRANGE', dead, start, '+', 'COUNT', chunk)
local removed, ids = 0, {}
for _, entry in ipairs(entries) do
  local fields = entry[2]
  for i = 1, #fields - 1, 2 do
    if fields[i] == 'event' then
      if who.matches(fields[i + 1]) then
        redis.call('XDEL', dead, entry[1])
        removed = removed + 1
        ids[#ids + 1] = event_id(fields[i + 1])
      end
      break
    end
  end
end
if removed > 0 then redis.call('HINCRBY', stats, 'forgotten', removed) end
local receipts_removed = forget_receipts(ids, receipts_ttl, receipt_bucket, receipts_prefix)
local last = ''
if #entries > 0 then last = entries[#entries][1] end
return {removed, receipts_removed, last, #entries < chunk and 1 or 0}
