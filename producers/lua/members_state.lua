-- Mark the packed items of one of a batch's segments submitted, once OpenAI holds the batch.
-- Called segment by segment so a 50,000-item batch never blocks Redis for long.
-- KEYS: segment, segment ids, counts
-- ARGV: batch_id, item_prefix, segment number, now
-- Returns how many items moved.
local bid, prefix, segment, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local claimed = redis.call('HMGET', KEYS[1], 'owner', 't_claimed')
if claimed[1] ~= bid then return 0 end
local moved = 0
for _, id in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
  local key = prefix .. id
  local f = redis.call('HMGET', key, 'st', 'sg')
  if f[1] == 'queued' and f[2] == segment then
    redis.call('HSET', key, 'st', 'submitted', 'b', bid, 't_packed', claimed[2], 't_submitted', now)
    moved = moved + 1
  end
end
if moved > 0 then
  redis.call('HINCRBY', KEYS[3], 'packed', -moved)
  redis.call('HINCRBY', KEYS[3], 'submitted', moved)
end
return moved
