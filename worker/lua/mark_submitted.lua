-- Mark the packed items of one of a batch's segments submitted, once the provider holds the
-- batch. Called segment by segment so a 50,000-item batch never blocks Redis for long.
-- KEYS: segment, segment_ids, counts
-- ARGV: batch_id, item_prefix, segment_number, now
-- Returns how many items moved.
local batch_id, item_prefix, segment_number, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local claim = redis.call('HMGET', KEYS[1], 'batch', 'claimed_at')
if claim[1] ~= batch_id then return 0 end
local moved = 0
for _, id in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
  local key = item_prefix .. id
  local f = redis.call('HMGET', key, 'state', 'segment')
  if f[1] == 'queued' and f[2] == segment_number then
    redis.call('HSET', key, 'state', 'submitted', 'batch', batch_id, 'packed_at', claim[2],
      'submitted_at', now)
    moved = moved + 1
  end
end
if moved > 0 then
  redis.call('HINCRBY', KEYS[3], 'packed', -moved)
  redis.call('HINCRBY', KEYS[3], 'submitted', moved)
end
return moved
