-- Move a batch from one of the expected states to another, atomically with its indexes.
-- KEYS: batch, leases, live, batches, members
-- ARGV: batch_id, expected states (comma separated), new state, now, lease deadline ('' = drop
--       the lease), live ('add' | 'rem' | ''), seconds until the batch and its members list
--       expire ('' = never: the batch is not finished), segment prefix, then field/value
--       pairs to set.
-- Returns 1 when moved, 0 when the batch was not in an expected state.
local bid, expected, new = ARGV[1], ARGV[2], ARGV[3]
local current = redis.call('HGET', KEYS[1], 'st')
if current == false then
  if expected ~= 'new' then return 0 end
  redis.call('ZADD', KEYS[4], ARGV[4], bid)
elseif not string.find(',' .. expected .. ',', ',' .. current .. ',', 1, true) then
  return 0
end
redis.call('HSET', KEYS[1], 'st', new, 't_' .. new, ARGV[4])
if ARGV[5] == '' then redis.call('ZREM', KEYS[2], bid) else redis.call('ZADD', KEYS[2], ARGV[5], bid) end
if ARGV[6] == 'add' then redis.call('SADD', KEYS[3], bid) elseif ARGV[6] == 'rem' then redis.call('SREM', KEYS[3], bid) end
for i = 9, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
if ARGV[7] ~= '' then
  redis.call('EXPIRE', KEYS[1], ARGV[7])
  for _, segment in ipairs(redis.call('LRANGE', KEYS[5], 0, -1)) do
    local key = ARGV[8] .. segment
    redis.call('EXPIRE', key, ARGV[7])
    redis.call('EXPIRE', key .. ':ids', ARGV[7])
    redis.call('EXPIRE', key .. ':lines', ARGV[7])
  end
  redis.call('EXPIRE', KEYS[5], ARGV[7])
  -- Scored from its end from now on, so housekeeping drops the entry as the hash expires.
  redis.call('ZADD', KEYS[4], ARGV[4], bid)
end
return 1
