-- Claim finished items for one delivery task, so a slow task and housekeeping's re-dispatch
-- of the same items never both deliver them. An item without a callback has had its delivery
-- (its result in Redis): it is marked delivered here and not returned. A success stored in
-- bulk has no entry of its own in undelivered until it is first claimed here: then it gets one
-- (kept until it is delivered), and its batch one less 'unclaimed'; the batch's entry goes
-- with the last. ('dl_until' cannot tell a first claim: a revived item keeps its old one.)
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
  local first_claim = bulk and not redis.call('ZSCORE', KEYS[1], id)
  if first_claim then first[f[3]] = (first[f[3]] or 0) + 1 end
  if string.find(id, ' ', 1, true) then
    -- not an item (no id holds a space): a batch's entry, from a worker of an older version
  elseif st ~= 'succeeded' and st ~= 'dead' then
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
  elseif first_claim then  -- held by an older claim (a revived item's): due when it ends
    redis.call('ZADD', KEYS[1], f[2], id)
  end
end
marker.flush()
for b, n in pairs(first) do
  if redis.call('HINCRBY', bprefix .. b, 'unclaimed', -n) <= 0 then
    redis.call('ZREM', KEYS[1], ARGV[7] .. b)
  end
end
return claimed
