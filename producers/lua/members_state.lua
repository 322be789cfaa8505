-- Move a batch's members from one state to another (e.g. packed -> submitted).
-- KEYS: members, counts
-- ARGV: batch_id, item_prefix, from, to, now
-- Returns how many items moved.
local bid, prefix, from, to, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local moved = 0
for _, id in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  local key = prefix .. id
  local f = redis.call('HMGET', key, 'st', 'b')
  if f[1] == from and f[2] == bid then
    redis.call('HSET', key, 'st', to, 't_' .. to, now)
    moved = moved + 1
  end
end
if moved > 0 then
  redis.call('HINCRBY', KEYS[2], from, -moved)
  redis.call('HINCRBY', KEYS[2], to, moved)
end
return moved
