-- Move whole segments from the head of a partition's queue into a packing batch, under the
-- batch's remaining limits; a segment that does not fit is split and its first part taken.
-- KEYS: queue, queue state, counts, batch, members
-- ARGV: now, batch_id, segment prefix, item_prefix, chunk (stop once this many items are
--       taken), max_n, max_bytes, max_inputs, max_tokens (-1: none)
-- Returns {n, bytes, inputs, tokens, full, exhausted, segment...}; full=1 when a limit
-- stopped the claim, exhausted=1 when the queue ran out first.
local now, bid, sp, prefix = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local chunk, max_n, max_bytes = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local max_inputs, max_tokens = tonumber(ARGV[8]), tonumber(ARGV[9])
if redis.call('HGET', KEYS[4], 'st') ~= 'packing' then return {0, 0, 0, 0, 1, 1} end
local n, bytes, inputs, tokens, full, exhausted = 0, 0, 0, 0, 0, 0
local out = {0, 0, 0, 0, 0, 0}

local function fits(dn, db, di, dt)
  return n + dn <= max_n and bytes + db <= max_bytes and inputs + di <= max_inputs
    and (max_tokens < 0 or tokens + dt <= max_tokens)
end

local function take(segment, dn, db, di, dt)
  redis.call('HSET', sp .. segment, 'owner', bid, 't_claimed', now)
  redis.call('RPUSH', KEYS[5], segment)
  redis.call('HINCRBY', KEYS[2], 'len', -dn)
  n, bytes, inputs, tokens = n + dn, bytes + db, inputs + di, tokens + dt
  out[#out + 1] = segment
end

-- Takes the first items of a segment that fit into a segment of their own.
local function split(key)
  local lines = redis.call('LRANGE', key .. ':lines', 0, -1)
  local ids = redis.call('LRANGE', key .. ':ids', 0, -1)
  local k, kb, ki, kt = 0, 0, 0, 0
  local has_inputs = tonumber(redis.call('HGET', key, 'inputs') or 0) > 0
  for i, line in ipairs(lines) do
    local nin = 0
    if has_inputs then nin = tonumber(redis.call('HGET', prefix .. ids[i], 'nin') or 0) end
    local tokens = tokens_of(line)
    if not fits(k + 1, kb + #line + 1, ki + nin, kt + tokens) then break end
    k, kb, ki, kt = k + 1, kb + #line + 1, ki + nin, kt + tokens
  end
  if k == 0 then return end
  local taken_ids, taken_lines = {unpack(ids, 1, k)}, {unpack(lines, 1, k)}
  local from = redis.call('HMGET', key, 't0', 'cbs')
  local segment = new_segment(KEYS[2], sp, from[1], taken_ids, taken_lines, ki, from[2] or 0)
  redis.call('LTRIM', key .. ':ids', k, -1)
  redis.call('LTRIM', key .. ':lines', k, -1)
  redis.call('HINCRBY', key, 'n', -k)
  redis.call('HINCRBY', key, 'bytes', -kb)
  if ki > 0 then redis.call('HINCRBY', key, 'inputs', -ki) end
  redis.call('HINCRBY', key, 'tokens', -kt)
  for _, id in ipairs(taken_ids) do redis.call('HSET', prefix .. id, 'sg', segment) end
  -- The new segment was never in the queue: count its items out of it here.
  take(segment, k, kb, ki, kt)
end

local tail = redis.call('HGET', KEYS[2], 'tail')
while n < chunk do
  local head = redis.call('LINDEX', KEYS[1], 0)
  if not head then
    exhausted = 1
    break
  end
  local key = sp .. head
  local m = redis.call('HMGET', key, 'n', 'bytes', 'inputs', 'tokens')
  local dn, db = tonumber(m[1]) or 0, tonumber(m[2]) or 0
  local di, dt = tonumber(m[3]) or 0, tonumber(m[4]) or 0
  if fits(dn, db, di, dt) then
    redis.call('LPOP', KEYS[1])
    if head == tail then redis.call('HDEL', KEYS[2], 'tail') end
    take(head, dn, db, di, dt)
  else
    split(key)
    full = 1
    break
  end
end
if n > 0 then
  redis.call('HINCRBY', KEYS[3], 'queued', -n)
  redis.call('HINCRBY', KEYS[3], 'packed', n)
  redis.call('HINCRBY', KEYS[4], 'n', n)
  redis.call('HINCRBY', KEYS[4], 'bytes', bytes)
  redis.call('HINCRBY', KEYS[4], 'inputs', inputs)
  redis.call('HINCRBY', KEYS[4], 'tokens', tokens)
end
out[1], out[2], out[3], out[4], out[5], out[6] = n, bytes, inputs, tokens, full, exhausted
return out
