-- Record the outcome of a chunk of a batch's items. Only items still in flight in this batch
-- change, so running a chunk twice (a collect resumed after a crash) changes nothing.
-- KEYS: counts, undelivered, delayed, dead
-- ARGV: batch_id, item_prefix, result_prefix, notify_prefix, now, result_ttl, max_attempts,
--       backoff, backoff_max, delivery lease, then (id, outcome, result_json, code, message)*
--   outcome: ok | retry (counts an attempt) | requeue (no attempt counted) | dead
-- Returns {succeeded, retried, dead, skipped, finished id...} (finished: succeeded or dead now).
local bid, prefix, rprefix, nprefix = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local now, ttl, max_att = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local backoff, backoff_max, lease = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local ok, retried, dead, skipped = 0, 0, 0, 0
local finished = {}

local function finish(id, key, state, result, code, message)
  redis.call('HSET', key, 'st', state, 'out', state, 't_' .. state, ARGV[5])
  if code ~= '' then redis.call('HSET', key, 'code', code, 'msg', message) end
  redis.call('SET', rprefix .. id, result, 'EX', ttl)
  redis.call('RPUSH', nprefix .. id, '1')
  redis.call('EXPIRE', nprefix .. id, 300)
  redis.call('ZADD', KEYS[2], now + lease, id)
  redis.call('HINCRBY', KEYS[1], state, 1)
end

for i = 11, #ARGV, 5 do
  local id, outcome, result, code, message = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  local key = prefix .. id
  local f = redis.call('HMGET', key, 'st', 'b', 'att')
  if (f[1] ~= 'submitted' and f[1] ~= 'packed') or f[2] ~= bid then
    skipped = skipped + 1
  else
    redis.call('HINCRBY', KEYS[1], f[1], -1)
    local att = tonumber(f[3])
    if code ~= '' then redis.call('HSET', key, 'hist', (redis.call('HGET', key, 'hist') or '') .. att .. ':' .. code .. ';') end
    if outcome == 'ok' then
      finish(id, key, 'succeeded', result, '', '')
      ok = ok + 1
      finished[#finished + 1] = id
    elseif outcome == 'dead' or (outcome == 'retry' and att >= max_att) then
      local reason = code
      if outcome == 'retry' then reason = 'max_attempts:' .. code end
      finish(id, key, 'dead', result, reason, message)
      redis.call('ZADD', KEYS[4], now, id)
      dead = dead + 1
      finished[#finished + 1] = id
    else
      local next_att, delay = att, 0
      if outcome == 'retry' then
        next_att = att + 1
        delay = math.min(backoff * 2 ^ (att - 1), backoff_max)
      end
      redis.call('HSET', key, 'st', 'queued', 'att', next_att, 't_queued', ARGV[5], 'code', code, 'msg', message)
      redis.call('HDEL', key, 'b')
      redis.call('ZADD', KEYS[3], now + delay, id)
      redis.call('HINCRBY', KEYS[1], 'queued', 1)
      retried = retried + 1
    end
  end
end
return {ok, retried, dead, skipped, unpack(finished)}
