-- Move items whose retry backoff has passed from the delayed set to the tail of the queue.
-- KEYS: delayed, queue, queue state
-- ARGV: now, limit, item_prefix, segment prefix
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
if #due == 0 then return 0 end
local prefix = ARGV[3]
local queue = appender(KEYS[2], KEYS[3], ARGV[4], ARGV[1])
for _, id in ipairs(due) do
  local key = prefix .. id
  -- Settling moved the line into the item when it took the item out of its segment.
  local f = redis.call('HMGET', key, 'line', 'nin', 'cb')
  if f[1] then
    redis.call('HSET', key, 'sg', queue.add(id, f[1], tonumber(f[2] or 0), f[3]))
    redis.call('HDEL', key, 'line')
    redis.call('ZREM', KEYS[1], id)
  end
end
queue.flush()
return #due
