-- Requeue dead-lettered items (all, or those whose reason starts with a code) for a new try.
-- KEYS: dead, queue, counts
-- ARGV: item_prefix, now, reason prefix ('' = all), limit
-- Returns how many items were requeued.
local prefix, now, reason, limit = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local revived = 0
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if revived >= limit then break end
  local key = prefix .. id
  local f = redis.call('HMGET', key, 'st', 'code')
  local code = f[2] or ''
  if not f[1] then
    redis.call('ZREM', KEYS[1], id)  -- forgotten: its result's time to live has passed
  elseif reason == '' or string.sub(code, 1, #reason) == reason
      or string.sub(code, 1, #reason + 13) == 'max_attempts:' .. reason then
    if f[1] == 'dead' or f[1] == 'delivered' then
      redis.call('HINCRBY', KEYS[3], f[1], -1)
    end
    redis.call('HSET', key, 'st', 'queued', 'att', 1, 't_queued', now, 'note', 'revived')
    redis.call('HDEL', key, 'b', 'out')
    redis.call('PERSIST', key)
    redis.call('ZREM', KEYS[1], id)
    redis.call('RPUSH', KEYS[2], id)
    redis.call('HINCRBY', KEYS[3], 'queued', 1)
    revived = revived + 1
  end
end
return revived
