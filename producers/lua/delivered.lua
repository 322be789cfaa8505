-- Mark items delivered once every callback of theirs got the result.
-- KEYS: counts, undelivered
-- ARGV: item_prefix, now, results prefix, batch prefix, result_ttl, ids...
-- Returns how many items were marked.
local prefix, now, rprefix, bprefix, ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local marked = 0
for i = 6, #ARGV do
  local id = ARGV[i]
  local key = prefix .. id
  local f = redis.call('HMGET', key, 'st', 'b')
  local st = f[1]
  if st == 'submitted' and f[2] and (redis.call('HGET', rprefix .. f[2], id) or '') ~= '' then
    -- Its batch stored the result in bulk: write the success now, and the item's expiry.
    local settled = redis.call('HGET', bprefix .. f[2], 't_settled') or now
    redis.call('HSET', key, 'out', 'succeeded', 't_succeeded', settled)
    redis.call('EXPIRE', key, ttl)
    st = 'succeeded'
  end
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
