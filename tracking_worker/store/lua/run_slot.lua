-- run_slot: take, hold or give back one of a provider's delivery runs (see Deliverer.run).
-- How many runs may deliver it at once follows its backlog and the worker processes alive to
-- run them, up to `cap`: `per_run` pending events make each run beyond the first worth a
-- process, and the live nodes' processes (node_beat.lua) bound them. A run lapses
-- `milliseconds` after it was taken or last held (its heartbeat holds it every second or so),
-- so a run whose worker died (SIGKILL, a lost host, keys replicated to a new master) frees
-- its slot within seconds, never a lease.
-- A node runs one of the provider's runs whatever its speed; a second and more only while a
-- live run says the provider answers quickly (`fast`): a slow provider keeps to one process
-- per node (its concurrency is its max_connections), so it never holds every process of a
-- host while the other providers wait.
-- KEYS: runs     tw:{p}:runs     hash: run token -> "<lapses at, ms>|<node>|<fast: 0|1>"
--       nodes    tw:{p}:nodes    hash: worker node -> "<lapses at, ms>|<processes>"
--       pending  tw:{p}:pending  list; its length is the backlog
-- ARGV: action        'take' | 'hold' | 'release'
--       token         the run's own
--       node          the worker node the run is on (its Celery hostname)
--       milliseconds  a run lapses this long after it was taken or last held
--       cap           most runs at once (delivery.max_runs)
--       per_run       pending events that make one more run worth a process
--       fast          hold: 1 when the run's last round was quick
-- Returns {done (1 | 0: taken by others, or lapsed), room (how many more runs may start
-- now), rank (the node's other runs when this one was taken or held)}.
local runs, nodes, pending = KEYS[1], KEYS[2], KEYS[3]
local action, token, node, milliseconds = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local cap, per_run, fast = tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7] == '1'
local now = math.floor(NOW * 1000)

if action == 'release' then
  return {redis.call('HDEL', runs, token), 0, 0}
end

-- The other live runs: how many, how many on this node, whether one found the provider quick.
-- Lapsed entries are removed as they are met.
local others, here, quick, held, latest = 0, 0, false, false, 0
local entries = redis.call('HGETALL', runs)
for i = 1, #entries, 2 do
  local lapses, on, says = string.match(entries[i + 1], '^(%d+)|(.*)|([01])$')
  if not lapses or tonumber(lapses) <= now then
    redis.call('HDEL', runs, entries[i])
  elseif entries[i] == token then
    held = true
  else
    others = others + 1
    latest = math.max(latest, tonumber(lapses))
    if on == node then here = here + 1 end
    if says == '1' then quick = true end
  end
end

-- The live worker processes, and this node's.
local processes, mine = 0, 0
local listed = redis.call('HGETALL', nodes)
for i = 1, #listed, 2 do
  local lapses, count = string.match(listed[i + 1], '^(%d+)|(%d+)$')
  if not lapses or tonumber(lapses) <= now then
    redis.call('HDEL', nodes, listed[i])
  else
    processes = processes + tonumber(count)
    if listed[i] == node then mine = tonumber(count) end
  end
end

local backlog = redis.call('LLEN', pending)
local wanted = math.max(1, math.floor(backlog / math.max(1, per_run)))
local allowed = math.min(cap, math.max(1, processes), wanted)

-- The hash lapses with its last entry: a provider nobody delivers leaves no key behind.
local function record(says)
  redis.call('HSET', runs, token, string.format('%d|%s|%s', now + milliseconds, node, says))
  redis.call('PEXPIREAT', runs, string.format('%d', math.max(latest, now + milliseconds)))
end

if action == 'hold' then
  if not held then return {0, 0, here} end
  record(fast and '1' or '0')
  return {1, math.max(0, allowed - others - 1), here}
end

-- take: a token is taken once; a node's first run needs no word on speed, its others do.
if held then return {1, math.max(0, allowed - others - 1), here} end
if others >= allowed then return {0, 0, here} end
local limit = 1
if quick then limit = math.max(1, mine) end
if here >= limit then return {0, allowed - others, here} end
record('0')
return {1, math.max(0, allowed - others - 1), here}
