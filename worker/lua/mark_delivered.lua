-- Mark items delivered once every callback of theirs got the result.
-- KEYS: counts, undelivered
-- ARGV: item_prefix, now, results_prefix, batch_prefix, result_ttl, ...ids
-- LIBRARY: deliveries
-- Returns how many items were marked.
local item_prefix, now, results_prefix, batch_prefix, result_ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local FIRST_ID = 6
local marker = delivery_marker(KEYS[1], KEYS[2], now, batch_prefix, result_ttl)
for i = FIRST_ID, #ARGV do
  local id = ARGV[i]
  local key = item_prefix .. id
  local f = redis.call('HMGET', key, 'state', 'batch')
  local state, bulk = delivery_state(id, f[1], f[2], results_prefix)
  if state == 'succeeded' or state == 'dead' then
    marker.mark(key, id, state, bulk, f[2])
  else
    redis.call('ZREM', KEYS[2], id)
  end
end
return marker.flush()
