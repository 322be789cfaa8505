-- Mark items delivered once every callback of theirs got the result.
-- KEYS: counts, undelivered
-- ARGV: item_prefix, now, ids...
-- Returns how many items were marked.
local prefix, now = ARGV[1], ARGV[2]
local marked = 0
for i = 3, #ARGV do
  local id = ARGV[i]
  local key = prefix .. id
  local st = redis.call('HGET', key, 'st')
  if st == 'succeeded' or st == 'dead' then
    redis.call('HSET', key, 'st', 'delivered', 't_delivered', now)
    redis.call('HINCRBY', KEYS[1], st, -1)
    redis.call('HINCRBY', KEYS[1], 'delivered', 1)
    redis.call('HINCRBY', KEYS[1], 'delivered_' .. st, 1)
    marked = marked + 1
  end
  redis.call('ZREM', KEYS[2], id)
end
return marked
