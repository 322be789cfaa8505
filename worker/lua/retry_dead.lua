-- Queue dead-lettered items (all, or those whose reason starts with a code) for a new try.
-- KEYS: dead, queue, queue_state, counts
-- ARGV: item_prefix, now, reason, limit, segment_prefix
-- LIBRARY: segments
--   reason: the code prefix of the reasons to retry, or '' for every dead item.
-- Returns how many items were queued again.
local item_prefix, now, reason, limit = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local segment_prefix = ARGV[5]
local retried = 0
local queue = appender(KEYS[2], KEYS[3], segment_prefix, now)
local lines = line_finder(segment_prefix)
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if retried >= limit then break end
  local key = item_prefix .. id
  local f = redis.call('HMGET', key, 'state', 'code', 'line', 'segment', 'inputs', 'callback')
  local code = f[2] or ''
  -- A dead item's line was stashed in it; a webhook dead letter's is still in its segment.
  local line = f[1] and (f[3] or lines(id, f[4]))
  if not line then
    redis.call('ZREM', KEYS[1], id)  -- forgotten: its result's time to live has passed
  elseif reason == '' or string.sub(code, 1, #reason) == reason
      or string.sub(code, 1, #reason + 13) == 'max_attempts:' .. reason then
    if f[1] == 'dead' or f[1] == 'delivered' then
      redis.call('HINCRBY', KEYS[4], f[1], -1)
    end
    local segment = queue.add(id, line, tonumber(f[5] or 0), f[6])
    redis.call('HSET', key, 'state', 'queued', 'attempt', 1, 'queued_at', now, 'note', 'retried',
      'segment', segment)
    -- A new try: what its last delivery left (a lease, a Celery callback sent, webhook tries)
    -- must not hold back or skip the next one.
    redis.call('HDEL', key, 'batch', 'outcome', 'line', 'delivery_lease', 'callback_sent',
      'webhook_tries', 'webhook_error', 'delivery_error')
    redis.call('PERSIST', key)
    redis.call('ZREM', KEYS[1], id)
    redis.call('HINCRBY', KEYS[4], 'queued', 1)
    retried = retried + 1
  end
end
queue.flush()
return retried
