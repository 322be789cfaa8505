-- Take finished items for one delivery task, leasing each until delivery_until, so a slow task
-- and housekeeping's re-dispatch of the same items never both deliver them. An item without a
-- callback has had its delivery (its result in Redis): it is marked delivered here and not
-- returned. A success stored in bulk has no entry of its own in undelivered until it is first
-- taken here: then it gets one (kept until it is delivered), and its batch one less
-- 'unclaimed'; the batch's entry goes with the last. ('delivery_lease' cannot tell a first
-- take: a retried item keeps its old one.)
-- KEYS: undelivered, counts
-- ARGV: item_prefix, now, delivery_until, results_prefix, batch_prefix, result_ttl, batch_entry_prefix, ...ids
-- LIBRARY: deliveries
--   batch_entry_prefix: keys.BATCH_ENTRY, which starts a batch's entry in undelivered.
-- Returns the ids this task now holds until delivery_until.
local item_prefix, now, delivery_until = ARGV[1], ARGV[2], ARGV[3]
local results_prefix, batch_prefix, result_ttl, batch_entry_prefix = ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local FIRST_ID = 8
local marker = delivery_marker(KEYS[2], KEYS[1], now, batch_prefix, result_ttl)
local taken, first_takes = {}, {}
for i = FIRST_ID, #ARGV do
  local id = ARGV[i]
  local key = item_prefix .. id
  local f = redis.call('HMGET', key, 'state', 'delivery_lease', 'batch', 'callback')
  local lease, batch, callback = f[2], f[3], f[4]
  local state, bulk = delivery_state(id, f[1], batch, results_prefix)
  local first_take = bulk and not redis.call('ZSCORE', KEYS[1], id)
  if first_take then first_takes[batch] = (first_takes[batch] or 0) + 1 end
  if string.find(id, ' ', 1, true) then
    -- not an item (no id holds a space): a batch's entry, from a worker of an older version
  elseif state ~= 'succeeded' and state ~= 'dead' then
    redis.call('ZREM', KEYS[1], id)  -- delivered already, or no longer finished: nothing to do
  elseif not callback then
    marker.mark(key, id, state, bulk, batch)
  elseif (tonumber(lease) or 0) < tonumber(now) then
    redis.call('HSET', key, 'delivery_lease', delivery_until)
    if bulk then
      redis.call('ZADD', KEYS[1], delivery_until, id)
    else
      redis.call('ZADD', KEYS[1], 'XX', delivery_until, id)
    end
    taken[#taken + 1] = id
  elseif first_take then  -- held by an older take (a retried item's): due when it ends
    redis.call('ZADD', KEYS[1], lease, id)
  end
end
marker.flush()
for batch, n in pairs(first_takes) do
  if redis.call('HINCRBY', batch_prefix .. batch, 'unclaimed', -n) <= 0 then
    redis.call('ZREM', KEYS[1], batch_entry_prefix .. batch)
  end
end
return taken
