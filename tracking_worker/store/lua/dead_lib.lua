-- dead_lib: the age limit of a provider's dead letters, shared by settle.lua (at each write)
-- and dead_trim.lua (the tick, so an idle provider's old letters go too); put before them by
-- lua_scripts.py, after the prelude (NOW). A stream id is the Redis time its entry was written,
-- in ms, so XTRIM MINID removes exactly the letters older than ttl seconds: counted as
-- dead_aged, as over-cap trimming is counted as dead_trimmed. ttl 0: no age limit.
local function trim_aged(dead, stats, ttl)
  ttl = tonumber(ttl)
  if ttl <= 0 then return 0 end
  local oldest = string.format('%d', math.floor((NOW - ttl) * 1000))
  local aged = redis.call('XTRIM', dead, 'MINID', oldest)
  if aged > 0 then redis.call('HINCRBY', stats, 'dead_aged', aged) end
  return aged
end
