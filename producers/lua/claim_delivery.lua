-- Claim finished items for one delivery task, so a slow task and housekeeping's re-dispatch
-- of the same items never both deliver them. An item without a callback has had its delivery
-- (its result in Redis): it is marked delivered here and not returned. A success stored in
-- bulk is claimed for the first time here (no 'dl_until' yet): it gets its own entry in
-- undelivered, and its batch one less 'unclaimed'; the batch's entry goes with the last.
-- KEYS: undelivered, counts
-- ARGV: item_prefix, now, lease deadline, results prefix, batch prefix, result_ttl,
--       batch entry prefix (keys.BATCH_ENTRY), ids...
-- Returns the ids this task now owns until the deadline.
local prefix, now, deadline, rprefix, bprefix = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local marker = delivery_marker(KEYS[2], KEYS[1], now, bprefix, ARGV[6])
local claimed, first = {}, {}
for i = 8, #ARGV do
  local id = ARGV[i]
  local key = prefix .. id
  local f = redis.call('HMGET', key, 'st', 'dl_until', 'b', 'cb')
  local st, bulk = delivery_state(id, f[1], f[3], rprefix)
  if bulk and not f[2] then
    first[f[3]] = (first[f[3]] or 0) + 1
  end
  if st ~= 'succeeded' and st ~= 'dead' then
    redis.call('ZREM', KEYS[1], id)  -- delivered already, or no longer finished: nothing to do
  elseif not f[4] then
    marker.mark(key, id, st, bulk, f[3])
  elseif (tonumber(f[2]) or 0) < tonumber(now) then
    redis.call('HSET', key, 'dl_until', deadline)
    if bulk then
      redis.call('ZADD', KEYS[1], deadline, id)
    else
      redis.call('ZADD', KEYS[1], 'XX', deadline, id)
    end
    claimed[#claimed + 1] = id
  end
end
marker.flush()
for b, n in pairs(first) do
  if redis.call('HINCRBY', bprefix .. b, 'unclaimed', -n) <= 0 then
    redis.call('ZREM', KEYS[1], ARGV[7] .. b)
  end
end
return claimed
