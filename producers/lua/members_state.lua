-- Move a range of a batch's members from one state to another (e.g. packed -> submitted).
-- Called range by range so a 50,000-item batch never blocks Redis for long.
-- KEYS: members, counts
-- ARGV: batch_id, item_prefix, from, to, now, start, stop (LRANGE indexes)
-- Returns how many items moved.
local bid, prefix, from, to, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local moved = 0
for _, id in ipairs(redis.call('LRANGE', KEYS[1], tonumber(ARGV[6]), tonumber(ARGV[7]))) do
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
