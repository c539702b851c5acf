-- suppress: add people to, or remove them from, one provider's suppression list. The same
-- members go to every provider's list, one call each (enqueue.lua reads its own provider's:
-- a script touches one slot), so each list changes atomically and a repeated call is a no-op.
-- KEYS: suppressed  tw:{p}:suppressed  hash: hashed identifier (people.py) -> events dropped
-- ARGV: action      'add' or 'remove'
--       members, from FIRST_MEMBER on: hashed identifiers
-- Adding a member already there keeps its count.
-- Returns how many members were added, or removed.
local suppressed = KEYS[1]
local action = ARGV[1]
local FIRST_MEMBER = 2
local changed = 0
for i = FIRST_MEMBER, #ARGV do
  if action == 'add' then
    changed = changed + redis.call('HSETNX', suppressed, ARGV[i], 0)
  else
    changed = changed + redis.call('HDEL', suppressed, ARGV[i])
  end
end
return changed
