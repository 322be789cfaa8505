-- Move queued items of a partition into a packing batch, under the batch's remaining limits.
-- KEYS: queue, counts, batch, members
-- ARGV: now, batch_id, item_prefix, chunk, max_n, max_bytes, max_inputs, max_tokens (-1: none)
-- Returns {n, bytes, inputs, tokens, full, exhausted, line1, ...}; full=1 when a limit stopped
-- the claim,
-- exhausted=1 when the queue held fewer ids than the chunk.
local now, bid, prefix = ARGV[1], ARGV[2], ARGV[3]
local max_n, max_bytes = tonumber(ARGV[5]), tonumber(ARGV[6])
local max_inputs, max_tokens = tonumber(ARGV[7]), tonumber(ARGV[8])
if redis.call('HGET', KEYS[3], 'st') ~= 'packing' then return {0, 0, 0, 0, 1, 1} end
local ids = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[4]) - 1)
local n, bytes, inputs, tokens, consumed, full = 0, 0, 0, 0, 0, 0
local out, claimed = {0, 0, 0, 0, 0, 0}, {}
for _, id in ipairs(ids) do
  local key = prefix .. id
  local f = redis.call('HMGET', key, 'line', 'st', 'nin')
  if f[2] == 'queued' then
    local size = string.len(f[1]) + 1
    -- The token estimate (the only one): 1 per 4 bytes of the request line.
    local nin, tok = tonumber(f[3]) or 0, math.floor((size - 1) / 4) + 1
    if n + 1 > max_n or bytes + size > max_bytes or inputs + nin > max_inputs
        or (max_tokens >= 0 and tokens + tok > max_tokens) then
      full = 1
      break
    end
    redis.call('HSET', key, 'st', 'packed', 'b', bid, 't_packed', now)
    n, bytes, inputs, tokens = n + 1, bytes + size, inputs + nin, tokens + tok
    claimed[n] = id
    out[n + 6] = f[1]
  end
  consumed = consumed + 1
end
if consumed > 0 then redis.call('LTRIM', KEYS[1], consumed, -1) end
if n > 0 then
  redis.call('RPUSH', KEYS[4], unpack(claimed))
  redis.call('HINCRBY', KEYS[2], 'queued', -n)
  redis.call('HINCRBY', KEYS[2], 'packed', n)
  redis.call('HINCRBY', KEYS[3], 'n', n)
  redis.call('HINCRBY', KEYS[3], 'bytes', bytes)
  redis.call('HINCRBY', KEYS[3], 'inputs', inputs)
  redis.call('HINCRBY', KEYS[3], 'tokens', tokens)
end
local exhausted = 0
if #ids < tonumber(ARGV[4]) and full == 0 then exhausted = 1 end
out[1], out[2], out[3], out[4], out[5], out[6] = n, bytes, inputs, tokens, full, exhausted
return out
