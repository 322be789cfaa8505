-- Mark items delivered once every callback of theirs got the result.
-- KEYS: counts, undelivered
-- ARGV: item_prefix, now, results prefix, batch prefix, result_ttl, ids...
-- Returns how many items were marked.
local prefix, now, rprefix = ARGV[1], ARGV[2], ARGV[3]
local marker = delivery_marker(KEYS[1], KEYS[2], now, ARGV[4], ARGV[5])
for i = 6, #ARGV do
  local id = ARGV[i]
  local key = prefix .. id
  local f = redis.call('HMGET', key, 'st', 'b')
  local st, bulk = delivery_state(id, f[1], f[2], rprefix)
  if st == 'succeeded' or st == 'dead' then
    marker.mark(key, id, st, bulk, f[2])
  else
    redis.call('ZREM', KEYS[2], id)
  end
end
return marker.flush()
