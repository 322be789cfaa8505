-- Record the outcome of a chunk of a batch's items, one by one: the outcomes other than
-- success, and lines of unknown or repeated ids (settle_successes.lua stores successes in
-- bulk). Only items still in flight in this batch change, so running a chunk twice (a collect
-- resumed after a crash) changes nothing.
-- KEYS: counts, undelivered, delayed, dead, results
-- ARGV: batch_id, item_prefix, segment_prefix, notify_prefix, waiting_prefix, now, result_ttl, max_attempts, backoff, backoff_max, delivery_lease, ...outcomes
-- LIBRARY: segments
--   results: the batch's results hash.
--   outcomes: (id, outcome, result_tail, code, message) for each item, where
--     outcome: ok | retry (counts an attempt) | requeue (no attempt counted) | dead
--     result_tail: the result JSON object without its opening brace; readers splice the
--     attempt, idempotency key and metadata in front of it (producers/results.py). An item
--     sent back to the queue leaves an empty result, so a later line for it is not taken.
-- An item without a callback is delivered here and now (its Redis result is its delivery).
-- A finished item's hash expires with its result. The calls per item are the reads and
-- writes of its own keys; the sorted sets and counters are written once per chunk.
-- Returns {succeeded, retried, dead, skipped, id awaiting delivery...}.
local batch_id, item_prefix, segment_prefix = ARGV[1], ARGV[2], ARGV[3]
local notify_prefix, waiting_prefix, now = ARGV[4], ARGV[5], ARGV[6]
local now_number, result_ttl, max_attempts = tonumber(now), tonumber(ARGV[7]), tonumber(ARGV[8])
local backoff, backoff_max, delivery_lease = tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11])
local FIRST_OUTCOME = 12
local lines, batch_of = line_finder(segment_prefix), batch_finder(segment_prefix)
local succeeded, retried, dead, skipped = 0, 0, 0, 0
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

-- item: the fields read below, by name
local function finish(id, outcome, item, tail, fields)
  redis.call('HSET', KEYS[5], id, tail)
  if redis.call('EXISTS', waiting_prefix .. id) == 1 then
    redis.call('RPUSH', notify_prefix .. id, '1')
    redis.call('EXPIRE', notify_prefix .. id, 300)
  end
  add(fields, 'outcome', outcome)
  add(fields, outcome .. '_at', now)
  if item.callback then
    add(fields, 'state', outcome)
    add(undelivered, now_number + delivery_lease, id)
    to_deliver[#to_deliver + 1] = id
    count(outcome, 1)
  else
    add(fields, 'state', 'delivered')
    add(fields, 'delivered_at', now)
    count('delivered', 1)
    count('delivered_' .. outcome, 1)
  end
end

for i = FIRST_OUTCOME, #ARGV, 5 do
  local id, outcome, tail, code, message = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  local key = item_prefix .. id
  local f = redis.call('HMGET', key, 'state', 'batch', 'attempt', 'callback', 'history', 'segment')
  local item = {state = f[1], batch = f[2], attempt = f[3], callback = f[4], history = f[5],
    segment = f[6]}
  -- In flight here: submitted in this batch, or packed (queued in a segment it claimed: a
  -- batch that never reached the provider, given up by submitting.fail).
  local state = item.state
  if state == 'queued' and batch_of(item.segment) == batch_id then state = 'packed' end
  if ((state ~= 'submitted' or item.batch ~= batch_id) and state ~= 'packed')
      or redis.call('HEXISTS', KEYS[5], id) == 1 then
    skipped = skipped + 1
  else
    count(state, -1)
    local attempt = tonumber(item.attempt) or 1  -- submit writes no attempt: it is the first
    local fields, finished = {}, true
    if code ~= '' then add(fields, 'history', (item.history or '') .. attempt .. ':' .. code .. ';') end
    if outcome == 'ok' then
      finish(id, 'succeeded', item, tail, fields)
      succeeded = succeeded + 1
    elseif outcome == 'dead' or (outcome == 'retry' and attempt >= max_attempts) then
      local reason = code
      if outcome == 'retry' then reason = 'max_attempts:' .. code end
      add(fields, 'code', reason)
      add(fields, 'message', message)
      stash_line(fields, id, item.segment)  -- for a retry by hand
      finish(id, 'dead', item, tail, fields)
      add(dead_ids, now_number, id)
      dead = dead + 1
    else
      local next_attempt, delay = attempt, 0
      if outcome == 'retry' then
        next_attempt = attempt + 1
        delay = math.min(backoff * 2 ^ (attempt - 1), backoff_max)
      end
      finished = false
      add(fields, 'state', 'queued')
      add(fields, 'attempt', next_attempt)
      add(fields, 'queued_at', now)
      add(fields, 'code', code)
      add(fields, 'message', message)
      stash_line(fields, id, item.segment)  -- it leaves its segment: the line travels in it
      redis.call('HSET', KEYS[5], id, '')
      redis.call('HDEL', key, 'batch', 'segment')
      add(delayed, now_number + delay, id)
      count('queued', 1)
      retried = retried + 1
    end
    redis.call('HSET', key, unpack(fields))
    -- A finished item is forgotten with its result (its id may then be submitted anew).
    if finished then redis.call('EXPIRE', key, result_ttl) end
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
if succeeded + dead + retried > 0 then redis.call('EXPIRE', KEYS[5], result_ttl) end
return {succeeded, retried, dead, skipped, unpack(to_deliver)}
