-- forget_lib: which events are the person's a forget removes, their receipts' removal, and the
-- guard that keeps replay and route resume from putting their events back while it runs; put
-- before forget_list, forget_batches, forget_dead, forget_guard, replay and route_resume by
-- lua_scripts.py (after the prelude, NOW).
-- A person is a flat array of needles, triples (field, value, json): field one of telegram_id,
-- email, user_id, visitor_id; value the identifier (an e-mail trimmed, its ASCII letters in
-- lower case: person.py's fold_email); json the value as an event's JSON writes it (wire.py:
-- UTF-8 kept), 42 or "ann@example.com". An event is the person's when any needle matches:
--   first its text must hold the needle's, a cheap test that leaves almost every other
--   person's event undecoded: "telegram_id":42 or "user_id":"u-1" as the compact JSON of every
--   writer of an event has it (wire.py, a dead letter's replay); an e-mail, without its
--   quotes, in any case of its ASCII letters;
--   then the decoded event's own top-level field must equal it (a "telegram_id" nested in
--   properties is not the person's): a number for telegram_id, also written with exactly
--   those digits (an id beyond 2^53 loses digits as a Lua number); an e-mail trimmed and
--   folded; other ids the same text.
--   An item that does not decode (corrupt) is matched on its text alone: "field":json, a
--   telegram id followed by no further digit.
local function fold(text)
  return string.lower(string.match(text, '^%s*(.-)%s*$'))
end
local function number_written(raw, pattern)
  local start = 1
  while true do
    local first, last = string.find(raw, pattern, start, true)
    if not first then return false end
    if not string.find(string.sub(raw, last + 1, last + 1), '[%d%.eE]') then return true end
    start = first + 1
  end
end
local function person(needles)
  local list, p = {}, {}
  for i = 1, #needles - 2, 3 do
    local field, value, json = needles[i], needles[i + 1], needles[i + 2]
    local n = {field = field, value = value, pattern = '"' .. field .. '":' .. json,
      number = tonumber(value)}
    -- An e-mail is looked for in the event's text lowered (a Lua pattern of [aA] classes took
    -- three times as long as lowering each event and a plain search).
    if field == 'email' then n.lowered = string.sub(json, 2, -2) end
    list[#list + 1] = n
  end
  local function owns(event, raw)
    for _, n in ipairs(list) do
      local v = event[n.field]
      if n.field == 'telegram_id' then
        if type(v) == 'number' and v == n.number and number_written(raw, n.pattern) then
          return true
        end
      elseif type(v) == 'string' then
        if n.field == 'email' then v = fold(v) end
        if v == n.value then return true end
      end
    end
    return false
  end
  local function written(raw, lowered)
    for _, n in ipairs(list) do
      if n.field == 'telegram_id' then
        if number_written(raw, n.pattern) then return true end
      elseif string.find(n.field == 'email' and lowered or raw, n.pattern, 1, true) then
        return true
      end
    end
    return false
  end
  -- Whether one serialized event (or corrupt item) is the person's.
  function p.matches(raw)
    if type(raw) ~= 'string' then return false end
    local lowered, seen = nil, false
    for _, n in ipairs(list) do
      if n.lowered then
        lowered = lowered or string.lower(raw)
        seen = string.find(lowered, n.lowered, 1, true) ~= nil
      else
        seen = string.find(raw, n.pattern, 1, true) ~= nil
      end
      if seen then break end
    end
    if not seen then return false end
    local ok, event = pcall(cjson.decode, raw)
    if ok and type(event) == 'table' then return owns(event, raw) end
    return written(raw, lowered or string.lower(raw))
  end
  return p
end
-- The needles ARGV holds from `first` on, `count` of them.
local function needles_at(first, count)
  local needles = {}
  for i = first, first + count - 1 do needles[#needles + 1] = ARGV[i] end
  return needles
end
-- The receipts of these event ids removed from every bucket that may hold them (those of
-- receipts_lib.lua: the current bucket and as many before as `ttl` keeps, plus one); a bucket
-- of the wrong type is left alone, as receipts_lib does. Returns how many were removed.
local function forget_receipts(ids, ttl, width, prefix)
  if #ids == 0 then return 0 end
  ttl, width = tonumber(ttl), tonumber(width)
  local current = math.floor(NOW / width)
  local removed = 0
  for bucket = current - math.ceil(ttl / width) - 1, current do
    local key = prefix .. string.format('%d', bucket)
    for i = 1, #ids, 500 do
      local got = redis.pcall('HDEL', key, unpack(ids, i, math.min(i + 499, #ids)))
      if type(got) == 'number' then removed = removed + got end
    end
  end
  return removed
end
-- The people being forgotten right now on this provider (forget_guard.lua writes them), as one
-- matcher; entries past their time (a forget that died) are removed. `matches` is false for
-- every event when nobody is.
local function forgetting(key)
  local entries = redis.call('HGETALL', key)
  local needles = {}
  for i = 1, #entries, 2 do
    local ok, entry = pcall(cjson.decode, entries[i + 1])
    if ok and type(entry) == 'table' and tonumber(entry.expires or 0) > NOW then
      for _, part in ipairs(entry.needles or {}) do needles[#needles + 1] = part end
    else
      redis.call('HDEL', key, entries[i])
    end
  end
  return person(needles)
end
