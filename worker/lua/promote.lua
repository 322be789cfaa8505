-- Move items whose retry backoff has passed from the delayed set to the tail of the queue.
-- KEYS: delayed, queue, queue_state
-- ARGV: now, limit, item_prefix, segment_prefix
-- LIBRARY: segments
-- Returns how many items were due.
local now, limit, item_prefix, segment_prefix = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, limit)
if #due == 0 then return 0 end
local queue = appender(KEYS[2], KEYS[3], segment_prefix, now)
for _, id in ipairs(due) do
  local key = item_prefix .. id
  -- Settling moved the line into the item when it took the item out of its segment.
  local f = redis.call('HMGET', key, 'line', 'inputs', 'callback')
  if f[1] then
    redis.call('HSET', key, 'segment', queue.add(id, f[1], tonumber(f[2] or 0), f[3]))
    redis.call('HDEL', key, 'line')
    redis.call('ZREM', KEYS[1], id)
  end
end
queue.flush()
return #due
