-- Withdraw the items of a partition that wait in its queue or out a retry backoff: each ends
-- dead and delivered (nobody else is told) with the given code, as the items of a gateway
-- batch that was cancelled or passed its deadline. Items in a batch at the provider are left
-- to finish there; those that come back unfinished are withdrawn by a later call. Bounded by
-- limit segments and limit delayed items a call: call it until it returns 0.
-- KEYS: queue, queue_state, delayed, counts
-- ARGV: item_prefix, segment_prefix, now, result_ttl, code, message, limit
-- Returns how many items were withdrawn.
local item_prefix, segment_prefix, now = ARGV[1], ARGV[2], ARGV[3]
local result_ttl, code, message, limit = tonumber(ARGV[4]), ARGV[5], ARGV[6], tonumber(ARGV[7])
local withdrawn = 0

local function withdraw(id)
  local key = item_prefix .. id
  redis.call('HSET', key, 'state', 'delivered', 'outcome', 'dead', 'code', code,
    'message', message, 'dead_at', now, 'delivered_at', now)
  redis.call('HDEL', key, 'segment', 'line', 'batch')
  redis.call('EXPIRE', key, result_ttl)
  withdrawn = withdrawn + 1
end

-- The queue holds only segments no batch has claimed.
local tail = redis.call('HGET', KEYS[2], 'tail')
for _, segment in ipairs(redis.call('LRANGE', KEYS[1], 0, limit - 1)) do
  local key = segment_prefix .. segment
  for _, id in ipairs(redis.call('LRANGE', key .. ':ids', 0, -1)) do
    local f = redis.call('HMGET', item_prefix .. id, 'state', 'segment')
    if f[1] == 'queued' and f[2] == segment then withdraw(id) end
  end
  redis.call('DEL', key, key .. ':ids', key .. ':lines')
  redis.call('LREM', KEYS[1], 1, segment)
  if segment == tail then redis.call('HDEL', KEYS[2], 'tail') end
end
local from_queue = withdrawn
if from_queue > 0 then redis.call('HINCRBY', KEYS[2], 'length', -from_queue) end

-- Items waiting out a backoff carry their line in their own hash.
for _, id in ipairs(redis.call('ZRANGE', KEYS[3], 0, limit - 1)) do
  withdraw(id)
  redis.call('ZREM', KEYS[3], id)
end

if withdrawn > 0 then
  redis.call('HINCRBY', KEYS[4], 'queued', -withdrawn)
  redis.call('HINCRBY', KEYS[4], 'delivered', withdrawn)
  redis.call('HINCRBY', KEYS[4], 'delivered_dead', withdrawn)
end
return withdrawn
