-- Move a batch from one of the expected states to another, atomically with its indexes.
-- KEYS: batch, leases, live, batches, batch_segments
-- ARGV: batch_id, expected, new_state, now, lease_until, live_change, expire_after, segment_prefix, ...fields
--   expected: states separated by commas, or 'new' for a batch not created yet.
--   lease_until: the lease's deadline, or '' to drop the lease.
--   live_change: 'add' | 'rem' | '' (the live set of batches at the provider).
--   expire_after: seconds until the batch, its segments and its segment list expire, or ''
--     (never: the batch is not finished).
--   fields: field and value pairs to set on the batch.
-- Returns 1 when moved, 0 when the batch was not in an expected state.
local batch_id, expected, new_state, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local lease_until, live_change, expire_after, segment_prefix = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local current = redis.call('HGET', KEYS[1], 'state')
if current == false then
  if expected ~= 'new' then return 0 end
  redis.call('ZADD', KEYS[4], now, batch_id)
elseif not string.find(',' .. expected .. ',', ',' .. current .. ',', 1, true) then
  return 0
end
redis.call('HSET', KEYS[1], 'state', new_state, new_state .. '_at', now)
if lease_until == '' then
  redis.call('ZREM', KEYS[2], batch_id)
else
  redis.call('ZADD', KEYS[2], lease_until, batch_id)
end
if live_change == 'add' then
  redis.call('SADD', KEYS[3], batch_id)
elseif live_change == 'rem' then
  redis.call('SREM', KEYS[3], batch_id)
end
for i = 9, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
if expire_after ~= '' then
  redis.call('EXPIRE', KEYS[1], expire_after)
  for _, segment in ipairs(redis.call('LRANGE', KEYS[5], 0, -1)) do
    local key = segment_prefix .. segment
    redis.call('EXPIRE', key, expire_after)
    redis.call('EXPIRE', key .. ':ids', expire_after)
    redis.call('EXPIRE', key .. ':lines', expire_after)
  end
  redis.call('EXPIRE', KEYS[5], expire_after)
  -- Scored from its end from now on, so housekeeping drops the entry as the hash expires.
  redis.call('ZADD', KEYS[4], now, batch_id)
end
return 1
