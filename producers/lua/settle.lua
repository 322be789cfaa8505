-- Record the outcome of a chunk of a batch's items, one by one: the outcomes other than
-- success, lines of unknown or repeated ids (settle_plain.lua stores plain successes in
-- bulk). Only items still in flight in this batch change, so running a chunk twice (a collect
-- resumed after a crash) changes nothing.
-- KEYS: counts, undelivered, delayed, dead, results (the batch's)
-- ARGV: batch_id, item_prefix, segment prefix, notify_prefix, waiting_prefix, now,
--       result_ttl, max_attempts, backoff, backoff_max, delivery lease,
--       then (id, outcome, result_tail, code, message)*
--   outcome: ok | retry (counts an attempt) | requeue (no attempt counted) | dead
--   result_tail: the result JSON object without its opening brace; readers splice the
--   attempt, idempotency key and metadata in front of it (producers/results.py). An item sent
--   back to the queue leaves an empty result, so a later line for it is not taken.
-- An item without a callback is delivered here and now (its Redis result is its delivery).
-- A finished item's hash expires with its result. The calls per item are the reads and
-- writes of its own keys; the sorted sets and counters are written once per chunk.
-- Returns {succeeded, retried, dead, skipped, id awaiting delivery...}.
local bid, prefix, sp, nprefix, wprefix = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local stamp = ARGV[6]
local now, ttl, max_att = tonumber(stamp), tonumber(ARGV[7]), tonumber(ARGV[8])
local backoff, backoff_max, lease = tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11])
local lines, owner = line_finder(sp), owner_finder(sp)
local ok, retried, dead, skipped = 0, 0, 0, 0
local to_deliver, undelivered, delayed, dead_ids, delta = {}, {}, {}, {}, {}

local function count(state, n)
  delta[state] = (delta[state] or 0) + n
end

local function add(list, a, b)
  list[#list + 1] = a
  list[#list + 1] = b
end

local function stash_line(fields, id, segment)
  local line = lines(id, segment)
  if line then add(fields, 'line', line) end
end

-- f: st, b, att, md, cb, hist, sg
local function finish(id, state, f, tail, fields)
  redis.call('HSET', KEYS[5], id, tail)
  if redis.call('EXISTS', wprefix .. id) == 1 then
    redis.call('RPUSH', nprefix .. id, '1')
    redis.call('EXPIRE', nprefix .. id, 300)
  end
  add(fields, 'out', state)
  add(fields, 't_' .. state, stamp)
  if f[5] then
    add(fields, 'st', state)
    add(undelivered, now + lease, id)
    to_deliver[#to_deliver + 1] = id
    count(state, 1)
  else
    add(fields, 'st', 'delivered')
    add(fields, 't_delivered', stamp)
    count('delivered', 1)
    count('delivered_' .. state, 1)
  end
end

for i = 12, #ARGV, 5 do
  local id, outcome, tail, code, message = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  local key = prefix .. id
  local f = redis.call('HMGET', key, 'st', 'b', 'att', 'md', 'cb', 'hist', 'sg')
  -- In flight here: submitted in this batch, or packed (queued in a segment it owns: a batch
  -- that never reached OpenAI, given up by submitting.fail).
  local state = f[1]
  if state == 'queued' and owner(f[7]) == bid then state = 'packed' end
  if ((state ~= 'submitted' or f[2] ~= bid) and state ~= 'packed')
      or redis.call('HEXISTS', KEYS[5], id) == 1 then
    skipped = skipped + 1
  else
    count(state, -1)
    local att = tonumber(f[3]) or 1  -- submit writes no attempt: it is the first
    local fields, finished = {}, true
    if code ~= '' then add(fields, 'hist', (f[6] or '') .. att .. ':' .. code .. ';') end
    if outcome == 'ok' then
      finish(id, 'succeeded', f, tail, fields)
      ok = ok + 1
    elseif outcome == 'dead' or (outcome == 'retry' and att >= max_att) then
      local reason = code
      if outcome == 'retry' then reason = 'max_attempts:' .. code end
      add(fields, 'code', reason)
      add(fields, 'msg', message)
      stash_line(fields, id, f[7])  -- for a revive
      finish(id, 'dead', f, tail, fields)
      add(dead_ids, now, id)
      dead = dead + 1
    else
      local next_att, delay = att, 0
      if outcome == 'retry' then
        next_att = att + 1
        delay = math.min(backoff * 2 ^ (att - 1), backoff_max)
      end
      finished = false
      add(fields, 'st', 'queued')
      add(fields, 'att', next_att)
      add(fields, 't_queued', stamp)
      add(fields, 'code', code)
      add(fields, 'msg', message)
      stash_line(fields, id, f[7])  -- it leaves its segment: the line travels in the item
      redis.call('HSET', KEYS[5], id, '')
      redis.call('HDEL', key, 'b', 'sg')
      add(delayed, now + delay, id)
      count('queued', 1)
      retried = retried + 1
    end
    redis.call('HSET', key, unpack(fields))
    -- A finished item is forgotten with its result (its id may then be submitted anew).
    if finished then redis.call('EXPIRE', key, ttl) end
  end
end

-- unpack() is bounded by Lua's stack: add in slices.
local function zadd(key, pairs)
  for s = 1, #pairs, 2000 do
    redis.call('ZADD', key, unpack(pairs, s, math.min(s + 1999, #pairs)))
  end
end
zadd(KEYS[2], undelivered)
zadd(KEYS[3], delayed)
zadd(KEYS[4], dead_ids)
for state, n in pairs(delta) do
  if n ~= 0 then redis.call('HINCRBY', KEYS[1], state, n) end
end
if ok + dead + retried > 0 then redis.call('EXPIRE', KEYS[5], ttl) end
return {ok, retried, dead, skipped, unpack(to_deliver)}
