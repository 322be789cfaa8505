-- Delivery marks: prepended to claim_delivery and delivered.
-- A success its batch stored in bulk still reads 'submitted' in its item: the result in the
-- batch's hash is its only sign of success until it is marked delivered here.
local function delivery_state(id, st, b, rprefix)
  if st == 'submitted' and b and redis.call('HSTRLEN', rprefix .. b, id) > 0 then
    return 'succeeded', true
  end
  return st, false
end

-- Marks items delivered; counters are written once, by flush().
local function delivery_marker(counts, undelivered, now, bprefix, ttl)
  local m = {marked = 0, delta = {}, settled_at = {}}

  function m.mark(key, id, st, bulk, b)
    if bulk then
      -- Write the success now, and the item's expiry (settling left the item untouched).
      if not m.settled_at[b] then
        m.settled_at[b] = redis.call('HGET', bprefix .. b, 't_settled') or now
      end
      redis.call('HSET', key, 'out', 'succeeded', 't_succeeded', m.settled_at[b])
      redis.call('EXPIRE', key, ttl)
    end
    redis.call('HSET', key, 'st', 'delivered', 't_delivered', now)
    redis.call('ZREM', undelivered, id)
    m.delta[st] = (m.delta[st] or 0) + 1
    m.marked = m.marked + 1
  end

  function m.flush()
    for st, n in pairs(m.delta) do
      redis.call('HINCRBY', counts, st, -n)
      redis.call('HINCRBY', counts, 'delivered_' .. st, n)
    end
    if m.marked > 0 then redis.call('HINCRBY', counts, 'delivered', m.marked) end
    return m.marked
  end

  return m
end

