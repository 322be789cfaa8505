-- Requeue dead-lettered items (all, or those whose reason starts with a code) for a new try.
-- KEYS: dead, queue, queue state, counts
-- ARGV: item_prefix, now, reason prefix ('' = all), limit, segment prefix
-- Returns how many items were requeued.
local prefix, now, reason, limit = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local revived = 0
local queue = appender(KEYS[2], KEYS[3], ARGV[5], now)
local lines = line_finder(ARGV[5])
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if revived >= limit then break end
  local key = prefix .. id
  local f = redis.call('HMGET', key, 'st', 'code', 'line', 'sg', 'nin', 'cb')
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
    redis.call('HSET', key, 'st', 'queued', 'att', 1, 't_queued', now, 'note', 'revived',
      'sg', segment)
    -- A new try: what its last delivery left (a claim, a Celery callback sent, webhook tries)
    -- must not hold back or skip the next one.
    redis.call('HDEL', key, 'b', 'out', 'line', 'dl_until', 'dl_task', 'wh_tries', 'wh_err',
      'dl_err')
    redis.call('PERSIST', key)
    redis.call('ZREM', KEYS[1], id)
    redis.call('HINCRBY', KEYS[4], 'queued', 1)
    revived = revived + 1
  end
end
queue.flush()
return revived
