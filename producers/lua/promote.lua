-- Move items whose retry backoff has passed from the delayed set to the tail of the queue.
-- KEYS: delayed, queue, queue state
-- ARGV: now, limit, item_prefix, segment prefix
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
if #due == 0 then return 0 end
local prefix = ARGV[3]
local queue = appender(KEYS[2], KEYS[3], ARGV[4], ARGV[1])
local lines = line_finder(ARGV[4])
for _, id in ipairs(due) do
  local key = prefix .. id
  local f = redis.call('HMGET', key, 'line', 'nin', 'sg', 'cb')
  -- Settling stashed the line in the item when it left its segment.
  local line = f[1] or lines(id, f[3])
  if line then
    redis.call('HSET', key, 'sg', queue.add(id, line, tonumber(f[2] or 0), f[4]))
    redis.call('HDEL', key, 'line')
  end
  redis.call('ZREM', KEYS[1], id)
end
queue.flush()
return #due
