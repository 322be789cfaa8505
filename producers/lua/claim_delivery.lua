-- Claim finished items for one delivery task, so a slow task and housekeeping's re-dispatch
-- of the same items never both deliver them. An item without a callback has had its delivery
-- (its result in Redis): it is marked delivered here and not returned.
-- KEYS: undelivered, counts
-- ARGV: item_prefix, now, lease deadline, results prefix, batch prefix, result_ttl, ids...
-- Returns the ids this task now owns until the deadline.
local prefix, now, deadline, rprefix = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local marker = delivery_marker(KEYS[2], KEYS[1], now, ARGV[5], ARGV[6])
local claimed = {}
for i = 7, #ARGV do
  local id = ARGV[i]
  local key = prefix .. id
  local f = redis.call('HMGET', key, 'st', 'dl_until', 'b', 'cb')
  local st, bulk = delivery_state(id, f[1], f[3], rprefix)
  if st ~= 'succeeded' and st ~= 'dead' then
    redis.call('ZREM', KEYS[1], id)  -- delivered already, or no longer finished: nothing to do
  elseif not f[4] then
    marker.mark(key, id, st, bulk, f[3])
  elseif (tonumber(f[2]) or 0) < tonumber(now) then
    redis.call('HSET', key, 'dl_until', deadline)
    redis.call('ZADD', KEYS[1], 'XX', deadline, id)
    claimed[#claimed + 1] = id
  end
end
marker.flush()
return claimed
