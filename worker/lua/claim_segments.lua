-- Move whole segments from the head of a partition's queue into a packing batch, under the
-- batch's remaining limits; a segment that does not fit is split and its first part taken.
-- KEYS: queue, queue_state, counts, batch, batch_segments
-- ARGV: now, batch_id, segment_prefix, item_prefix, chunk, max_items, max_bytes, max_inputs, max_tokens
-- LIBRARY: segments
--   chunk: stop once this many items are taken; max_tokens: -1 for no token budget.
-- Returns {items, bytes, inputs, tokens, full, exhausted, segment...}; full=1 when a limit
-- stopped the claim, exhausted=1 when the queue ran out first.
local now, batch_id, segment_prefix, item_prefix = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local chunk, max_items, max_bytes = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local max_inputs, max_tokens = tonumber(ARGV[8]), tonumber(ARGV[9])
if redis.call('HGET', KEYS[4], 'state') ~= 'packing' then return {0, 0, 0, 0, 1, 1} end
local items, bytes, inputs, tokens, full, exhausted = 0, 0, 0, 0, 0, 0
local out = {0, 0, 0, 0, 0, 0}

local function fits(more_items, more_bytes, more_inputs, more_tokens)
  return items + more_items <= max_items and bytes + more_bytes <= max_bytes
    and inputs + more_inputs <= max_inputs
    and (max_tokens < 0 or tokens + more_tokens <= max_tokens)
end

local function take(segment, more_items, more_bytes, more_inputs, more_tokens)
  redis.call('HSET', segment_prefix .. segment, 'batch', batch_id, 'claimed_at', now)
  redis.call('RPUSH', KEYS[5], segment)
  redis.call('HINCRBY', KEYS[2], 'length', -more_items)
  items, bytes = items + more_items, bytes + more_bytes
  inputs, tokens = inputs + more_inputs, tokens + more_tokens
  out[#out + 1] = segment
end

-- Takes the first items of a segment that fit into a segment of their own.
local function split(key)
  local lines = redis.call('LRANGE', key .. ':lines', 0, -1)
  local ids = redis.call('LRANGE', key .. ':ids', 0, -1)
  local k, k_bytes, k_inputs, k_tokens = 0, 0, 0, 0
  local has_inputs = tonumber(redis.call('HGET', key, 'inputs') or 0) > 0
  for i, line in ipairs(lines) do
    local item_inputs = 0
    if has_inputs then
      item_inputs = tonumber(redis.call('HGET', item_prefix .. ids[i], 'inputs') or 0)
    end
    local line_tokens = tokens_of(line)
    if not fits(k + 1, k_bytes + #line + 1, k_inputs + item_inputs, k_tokens + line_tokens) then
      break
    end
    k, k_bytes = k + 1, k_bytes + #line + 1
    k_inputs, k_tokens = k_inputs + item_inputs, k_tokens + line_tokens
  end
  if k == 0 then return end
  local taken_ids, taken_lines = {unpack(ids, 1, k)}, {unpack(lines, 1, k)}
  local from = redis.call('HMGET', key, 'opened_at', 'callbacks')
  local segment = new_segment(KEYS[2], segment_prefix, from[1], taken_ids, taken_lines, k_inputs,
    from[2] or 0)
  redis.call('LTRIM', key .. ':ids', k, -1)
  redis.call('LTRIM', key .. ':lines', k, -1)
  redis.call('HINCRBY', key, 'items', -k)
  redis.call('HINCRBY', key, 'bytes', -k_bytes)
  if k_inputs > 0 then redis.call('HINCRBY', key, 'inputs', -k_inputs) end
  redis.call('HINCRBY', key, 'tokens', -k_tokens)
  for _, id in ipairs(taken_ids) do redis.call('HSET', item_prefix .. id, 'segment', segment) end
  -- The new segment was never in the queue: count its items out of it here.
  take(segment, k, k_bytes, k_inputs, k_tokens)
end

local tail = redis.call('HGET', KEYS[2], 'tail')
while items < chunk do
  local head = redis.call('LINDEX', KEYS[1], 0)
  if not head then
    exhausted = 1
    break
  end
  local key = segment_prefix .. head
  local m = redis.call('HMGET', key, 'items', 'bytes', 'inputs', 'tokens')
  local more_items, more_bytes = tonumber(m[1]) or 0, tonumber(m[2]) or 0
  local more_inputs, more_tokens = tonumber(m[3]) or 0, tonumber(m[4]) or 0
  if fits(more_items, more_bytes, more_inputs, more_tokens) then
    redis.call('LPOP', KEYS[1])
    if head == tail then redis.call('HDEL', KEYS[2], 'tail') end
    take(head, more_items, more_bytes, more_inputs, more_tokens)
  else
    split(key)
    full = 1
    break
  end
end
if items > 0 then
  redis.call('HINCRBY', KEYS[3], 'queued', -items)
  redis.call('HINCRBY', KEYS[3], 'packed', items)
  redis.call('HINCRBY', KEYS[4], 'items', items)
  redis.call('HINCRBY', KEYS[4], 'bytes', bytes)
  redis.call('HINCRBY', KEYS[4], 'inputs', inputs)
  redis.call('HINCRBY', KEYS[4], 'tokens', tokens)
end
out[1], out[2], out[3], out[4], out[5], out[6] = items, bytes, inputs, tokens, full, exhausted
return out
