-- Record the outcome of a chunk of a batch's items. Only items still in flight in this batch
-- change, so running a chunk twice (a collect resumed after a crash) changes nothing.
-- KEYS: counts, undelivered, delayed, dead
-- ARGV: batch_id, item_prefix, result_prefix, notify_prefix, waiting_prefix, now, result_ttl,
--       max_attempts, backoff, backoff_max, delivery lease,
--       then (id, outcome, result_tail, code, message)*
--   outcome: ok | retry (counts an attempt) | requeue (no attempt counted) | dead
--   result_tail: the result JSON object without its opening brace; the attempt, idempotency
--   key and metadata are spliced in front of it here, where the item's fields are at hand.
-- An item without a callback is delivered here and now (its Redis result is its delivery).
-- Returns {succeeded, retried, dead, skipped, id awaiting delivery...}.
local bid, prefix, rprefix, nprefix, wprefix = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local now, ttl, max_att = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local backoff, backoff_max, lease = tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11])
local ok, retried, dead, skipped = 0, 0, 0, 0
local to_deliver, delta = {}, {}

local function count(state, n)
  delta[state] = (delta[state] or 0) + n
end

local function finish(id, key, state, f, tail, code, message)
  local att = f[3]
  local result = '{"attempt":' .. att .. ',"idempotency_key":' .. cjson.encode(id .. ':' .. att)
    .. ',"metadata":' .. (f[4] or '{}') .. ',' .. tail
  redis.call('SET', rprefix .. id, result, 'EX', ttl)
  if code ~= '' then redis.call('HSET', key, 'code', code, 'msg', message) end
  if redis.call('EXISTS', wprefix .. id) == 1 then
    redis.call('RPUSH', nprefix .. id, '1')
    redis.call('EXPIRE', nprefix .. id, 300)
  end
  if f[5] then
    redis.call('HSET', key, 'st', state, 'out', state, 't_' .. state, ARGV[6])
    redis.call('ZADD', KEYS[2], now + lease, id)
    to_deliver[#to_deliver + 1] = id
    count(state, 1)
  else
    redis.call('HSET', key, 'st', 'delivered', 'out', state, 't_' .. state, ARGV[6],
      't_delivered', ARGV[6])
    count('delivered', 1)
    count('delivered_' .. state, 1)
  end
end

for i = 12, #ARGV, 5 do
  local id, outcome, tail, code, message = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  local key = prefix .. id
  local f = redis.call('HMGET', key, 'st', 'b', 'att', 'md', 'cb')
  if (f[1] ~= 'submitted' and f[1] ~= 'packed') or f[2] ~= bid then
    skipped = skipped + 1
  else
    count(f[1], -1)
    local att = tonumber(f[3])
    if code ~= '' then
      redis.call('HSET', key, 'hist', (redis.call('HGET', key, 'hist') or '') .. att .. ':' .. code .. ';')
    end
    if outcome == 'ok' then
      finish(id, key, 'succeeded', f, tail, '', '')
      ok = ok + 1
    elseif outcome == 'dead' or (outcome == 'retry' and att >= max_att) then
      local reason = code
      if outcome == 'retry' then reason = 'max_attempts:' .. code end
      finish(id, key, 'dead', f, tail, reason, message)
      redis.call('ZADD', KEYS[4], now, id)
      dead = dead + 1
    else
      local next_att, delay = att, 0
      if outcome == 'retry' then
        next_att = att + 1
        delay = math.min(backoff * 2 ^ (att - 1), backoff_max)
      end
      redis.call('HSET', key, 'st', 'queued', 'att', next_att, 't_queued', ARGV[6], 'code', code, 'msg', message)
      redis.call('HDEL', key, 'b')
      redis.call('ZADD', KEYS[3], now + delay, id)
      count('queued', 1)
      retried = retried + 1
    end
  end
end
for state, n in pairs(delta) do
  if n ~= 0 then redis.call('HINCRBY', KEYS[1], state, n) end
end
return {ok, retried, dead, skipped, unpack(to_deliver)}
