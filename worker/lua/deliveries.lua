-- Library: marking items delivered, for take_deliveries and mark_delivered.
-- A success its batch stored in bulk still reads 'submitted' in its item: the result in the
-- batch's hash is its only sign of success until it is marked delivered here.
local function delivery_state(id, state, batch, results_prefix)
  if state == 'submitted' and batch
      and redis.call('HSTRLEN', results_prefix .. batch, id) > 0 then
    return 'succeeded', true
  end
  return state, false
end

-- Marks items delivered; counters are written once, by flush().
local function delivery_marker(counts, undelivered, now, batch_prefix, result_ttl)
  local m = {marked = 0, delta = {}, settled_at = {}}

  function m.mark(key, id, state, bulk, batch)
    if bulk then
      -- Write the success now, and the item's expiry (settling left the item untouched).
      if not m.settled_at[batch] then
        m.settled_at[batch] = redis.call('HGET', batch_prefix .. batch, 'settled_at') or now
      end
      redis.call('HSET', key, 'outcome', 'succeeded', 'succeeded_at', m.settled_at[batch])
      redis.call('EXPIRE', key, result_ttl)
    end
    redis.call('HSET', key, 'state', 'delivered', 'delivered_at', now)
    redis.call('ZREM', undelivered, id)
    m.delta[state] = (m.delta[state] or 0) + 1
    m.marked = m.marked + 1
  end

  function m.flush()
    for state, n in pairs(m.delta) do
      redis.call('HINCRBY', counts, state, -n)
      redis.call('HINCRBY', counts, 'delivered_' .. state, n)
    end
    if m.marked > 0 then redis.call('HINCRBY', counts, 'delivered', m.marked) end
    return m.marked
  end

  return m
end
