-- node_beat: a worker node says it is alive and how many processes run its tasks, for one
-- provider whose queue it consumes; run_slot.lua sums the live ones to size the provider's
-- runs. Written by the node's main process every heartbeat, so a node that died (SIGKILL,
-- a lost host) stops counting `milliseconds` after its last beat.
-- KEYS: nodes  tw:{p}:nodes  hash: worker node -> "<lapses at, ms>|<processes>"
-- ARGV: node          the worker node (its Celery hostname)
--       processes     its pool's processes; 0: the node is stopping (its entry goes)
--       milliseconds  the entry lapses this long after the beat
-- Returns the live nodes' processes, summed (this one's included).
local nodes = KEYS[1]
local node, processes, milliseconds = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local now = math.floor(NOW * 1000)

if processes > 0 then
  redis.call('HSET', nodes, node, string.format('%d|%d', now + milliseconds, processes))
else
  redis.call('HDEL', nodes, node)
end

-- The live nodes' processes; lapsed entries go, and the hash lapses with its last entry.
local total, latest = 0, 0
local listed = redis.call('HGETALL', nodes)
for i = 1, #listed, 2 do
  local lapses, count = string.match(listed[i + 1], '^(%d+)|(%d+)$')
  if not lapses or tonumber(lapses) <= now then
    redis.call('HDEL', nodes, listed[i])
  else
    total = total + tonumber(count)
    latest = math.max(latest, tonumber(lapses))
  end
end
if latest > 0 then redis.call('PEXPIREAT', nodes, string.format('%d', latest)) end
return total
