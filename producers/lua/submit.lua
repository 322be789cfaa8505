-- Store a chunk of validated items of one partition; an existing id is stored once.
-- KEYS: queue, delayed, counts
-- ARGV: now, max_queued, item_prefix, then (id, line, extra)* where extra is '' or a JSON
--       object with optional cb (callback JSON), md (metadata JSON) and nin (embedding inputs).
-- Returns one code per item: 1 stored, 0 duplicate id, -1 queue full.
local now, max_queued, prefix = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local depth = redis.call('LLEN', KEYS[1]) + redis.call('ZCARD', KEYS[2])
local codes, stored = {}, {}
for i = 4, #ARGV, 3 do
  local id, line, extra = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local key = prefix .. id
  if redis.call('EXISTS', key) == 1 then
    codes[#codes + 1] = 0
  elseif depth >= max_queued then
    codes[#codes + 1] = -1
  else
    redis.call('HSET', key, 'line', line, 'st', 'queued', 'att', 1, 't_queued', now)
    if extra ~= '' then
      local e = cjson.decode(extra)
      if e.cb then redis.call('HSET', key, 'cb', e.cb) end
      if e.md then redis.call('HSET', key, 'md', e.md) end
      if e.nin then redis.call('HSET', key, 'nin', e.nin) end
    end
    stored[#stored + 1] = id
    depth = depth + 1
    codes[#codes + 1] = 1
  end
end
if #stored > 0 then
  redis.call('RPUSH', KEYS[1], unpack(stored))
  redis.call('HINCRBY', KEYS[3], 'queued', #stored)
  redis.call('HINCRBY', KEYS[3], 'submitted_total', #stored)
end
return codes
