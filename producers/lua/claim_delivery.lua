-- Claim finished items for one delivery task, so a slow task and housekeeping's re-dispatch
-- of the same items never both deliver them.
-- KEYS: undelivered
-- ARGV: item_prefix, now, lease deadline, ids...
-- Returns the ids this task now owns until the deadline.
local prefix, now, deadline = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local claimed = {}
for i = 4, #ARGV do
  local id = ARGV[i]
  local key = prefix .. id
  local f = redis.call('HMGET', key, 'st', 'dl_until')
  if (f[1] == 'succeeded' or f[1] == 'dead') and (tonumber(f[2]) or 0) < now then
    redis.call('HSET', key, 'dl_until', deadline)
    redis.call('ZADD', KEYS[1], 'XX', deadline, id)
    claimed[#claimed + 1] = id
  elseif f[1] ~= 'succeeded' and f[1] ~= 'dead' then
    redis.call('ZREM', KEYS[1], id)  -- delivered already, or no longer finished: nothing to do
  end
end
return claimed
