-- Claim finished items for one delivery task, so a slow task and housekeeping's re-dispatch
-- of the same items never both deliver them.
-- KEYS: undelivered
-- ARGV: item_prefix, now, lease deadline, results prefix, ids...
-- Returns the ids this task now owns until the deadline.
local prefix, now, deadline, rprefix = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local claimed = {}
for i = 5, #ARGV do
  local id = ARGV[i]
  local key = prefix .. id
  local f = redis.call('HMGET', key, 'st', 'dl_until', 'b')
  local st = f[1]
  -- Stored in bulk by its batch, the result is the item's only sign of success.
  if st == 'submitted' and f[3] and (redis.call('HGET', rprefix .. f[3], id) or '') ~= '' then
    st = 'succeeded'
  end
  if (st == 'succeeded' or st == 'dead') and (tonumber(f[2]) or 0) < now then
    redis.call('HSET', key, 'dl_until', deadline)
    redis.call('ZADD', KEYS[1], 'XX', deadline, id)
    claimed[#claimed + 1] = id
  elseif st ~= 'succeeded' and st ~= 'dead' then
    redis.call('ZREM', KEYS[1], id)  -- delivered already, or no longer finished: nothing to do
  end
end
return claimed
