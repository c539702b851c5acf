-- receipts_lib: the delivery receipts settle.lua and reap.lua write (store/receipts.py reads
-- them); put before those scripts by lua_scripts.py, after the prelude (NOW).
-- A provider's receipts written during one bucket of `width` seconds of Redis time share one
-- hash, <prefix><floor(NOW / width)>: field the event id, value
-- "<state>|<attempts>|<updated_at, integer ms>|<text>", text being the last error (retry) or the
-- reason (dead), else empty; last, so it may hold '|'. One hash per bucket instead of a key per
-- event, and one EXPIREAT per call: (bucket + 1) * width + ttl, the bucket's end plus the ttl.
-- ttl 0: receipts off, nothing is written. Written with pcall: a receipt is a view of the state,
-- so a bucket key of the wrong type (set by hand) must never fail, halfway, the state change
-- it describes (`tracking-worker trace` reports that key's error instead).
local function event_id(raw) return string.match(raw, '^{"event_id":"([^"\\]+)"') end
local function receipts(ttl, width, prefix)
  ttl, width = tonumber(ttl), tonumber(width)
  local bucket = math.floor(NOW / width)
  local key = prefix .. string.format('%d', bucket)
  local stamp = '|' .. string.format('%d', math.floor(NOW * 1000)) .. '|'
  local fields, wrote = {}, false
  local r = {on = ttl > 0}
  -- Written in chunks: unpack() of a whole large batch could overflow Lua's C stack.
  local function flush()
    if #fields == 0 then return end
    redis.pcall('HSET', key, unpack(fields))
    fields, wrote = {}, true
  end
  -- The last value built: a batch's receipts mostly share state, attempts and text, and
  -- building each one anew cost Redis as much as writing them.
  local last_state, last_attempts, last_text, last_value
  -- One receipt; an id nil (a quote or backslash in it) or receipts off: none.
  function r.add(id, state, attempts, text)
    if not r.on or not id then return end
    fields[#fields + 1] = id
    if state ~= last_state or attempts ~= last_attempts or text ~= last_text then
      last_state, last_attempts, last_text = state, attempts, text
      -- The text is cut at 200 bytes: a retry batch's error is repeated in each event's
      -- receipt (the whole of it stays in the batch, and a dead letter's in its stream entry).
      last_value = state .. '|' .. tostring(attempts) .. stamp .. string.sub(text or '', 1, 200)
    end
    fields[#fields + 1] = last_value
    if #fields >= 1000 then flush() end
  end
  -- The pending writes, and the bucket's expiry once.
  function r.done()
    flush()
    if wrote then
      redis.pcall('EXPIREAT', key, string.format('%d', (bucket + 1) * width + math.ceil(ttl)))
    end
  end
  return r
end
