-- Return the packed items of a batch that never reached the provider (its packer died) to the
-- front of the queue, without counting an attempt. A segment whose items are all still packed
-- goes back whole; otherwise its packed items go back in a new segment.
-- KEYS: batch_segments, counts, queue, queue_state
-- ARGV: batch_id, item_prefix, segment_prefix, now, note
-- LIBRARY: segments
-- Returns how many items were released.
local batch_id, item_prefix, segment_prefix, now, note = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local released = 0
local segments = redis.call('LRANGE', KEYS[1], 0, -1)
-- Last segment first: each goes to the front, so the queue keeps the batch's order.
for s = #segments, 1, -1 do
  local segment = segments[s]
  local key = segment_prefix .. segment
  if redis.call('HGET', key, 'batch') == batch_id then
    local ids = redis.call('LRANGE', key .. ':ids', 0, -1)
    local kept, kept_at = {}, {}
    for i, id in ipairs(ids) do
      local f = redis.call('HMGET', item_prefix .. id, 'state', 'segment')
      if f[1] == 'queued' and f[2] == segment then
        kept[#kept + 1] = id
        kept_at[#kept_at + 1] = i
      end
    end
    local back = segment
    if #kept == #ids then
      redis.call('HDEL', key, 'batch', 'claimed_at')
      redis.call('LREM', KEYS[1], 0, segment)
      -- Abandoning the batch set its segments to expire: this one is queued again.
      redis.call('PERSIST', key)
      redis.call('PERSIST', key .. ':ids')
      redis.call('PERSIST', key .. ':lines')
    elseif #kept > 0 then
      local all, lines, inputs = redis.call('LRANGE', key .. ':lines', 0, -1), {}, 0
      for j, i in ipairs(kept_at) do
        lines[j] = all[i]
        inputs = inputs + tonumber(redis.call('HGET', item_prefix .. kept[j], 'inputs') or 0)
      end
      local from = redis.call('HMGET', key, 'opened_at', 'callbacks')
      back = new_segment(KEYS[4], segment_prefix, from[1], kept, lines, inputs, from[2] or 0)
    end
    if #kept > 0 then
      for _, id in ipairs(kept) do
        local fields = {'segment', back}
        if note ~= '' then fields[3], fields[4] = 'note', note end
        redis.call('HSET', item_prefix .. id, unpack(fields))
      end
      redis.call('LPUSH', KEYS[3], back)
      redis.call('HINCRBY', KEYS[4], 'length', #kept)
      released = released + #kept
    end
  end
end
if released > 0 then
  redis.call('HINCRBY', KEYS[2], 'packed', -released)
  redis.call('HINCRBY', KEYS[2], 'queued', released)
end
return released
