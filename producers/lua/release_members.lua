-- Return a batch's still-unsettled members to the front of the queue, without counting an
-- attempt (the batch was abandoned before OpenAI saw it, or failed for reasons not theirs).
-- KEYS: members, counts, queue, delayed
-- ARGV: batch_id, item_prefix, now, states (comma separated), due time ('' = queue now), note
-- Returns how many items were released.
local bid, prefix, now, states, due, note = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local released = {}
local by_state = {}
for _, id in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  local key = prefix .. id
  local f = redis.call('HMGET', key, 'st', 'b')
  if f[2] == bid and f[1] and string.find(',' .. states .. ',', ',' .. f[1] .. ',', 1, true) then
    redis.call('HSET', key, 'st', 'queued', 't_queued', now)
    redis.call('HDEL', key, 'b')
    if note ~= '' then redis.call('HSET', key, 'note', note) end
    by_state[f[1]] = (by_state[f[1]] or 0) + 1
    released[#released + 1] = id
  end
end
for state, count in pairs(by_state) do redis.call('HINCRBY', KEYS[2], state, -count) end
if #released > 0 then
  redis.call('HINCRBY', KEYS[2], 'queued', #released)
  if due == '' then
    for i = #released, 1, -1 do redis.call('LPUSH', KEYS[3], released[i]) end
  else
    for _, id in ipairs(released) do redis.call('ZADD', KEYS[4], due, id) end
  end
end
return #released
