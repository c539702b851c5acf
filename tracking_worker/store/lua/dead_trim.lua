-- dead_trim: remove the provider's dead letters older than dead_ttl (dead_lib.lua), from the
-- tick: letters age whether or not new ones are written.
-- KEYS: dead   tw:{p}:dead (stream)
--       stats  tw:{p}:stats
-- ARGV: dead_ttl  seconds a dead letter is kept; 0: no age limit
-- Returns how many letters were removed.
local dead, stats = KEYS[1], KEYS[2]
local dead_ttl = ARGV[1]
return trim_aged(dead, stats, dead_ttl)
