-- Store a chunk of validated items of one partition; an existing id is stored once.
-- KEYS: queue, queue_state, delayed, counts
-- ARGV: now, max_queued, item_prefix, segment_prefix, records, registered
-- LIBRARY: segments
--   records: one record per item, separated by '\n', each the id, callback JSON, metadata
--     JSON, embedding inputs and request line, separated by '\31' (models.PreparedItem);
--     neither separator can occur inside a field.
--   registered: '1' if the caller has just written the partition's registry entry and Redis
--     replied OK (a round trip of its own: the registry is in no partition's slot), else '0'.
-- A duplicate counts in the queue state's 'duplicates': a write of this script, so a WAIT
-- after it also covers the original write (producers/replication.py).
-- Returns one code per item: 1 stored, 0 duplicate id, -1 queue full; or the single code -2,
-- nothing stored, when the partition is not marked registered and the caller did not just
-- register it (Redis lost it: the caller registers it and calls again). The mark is written
-- after the registry entry, so with AOF (which keeps the order of writes) a persisted mark
-- means a persisted entry, and items go only into partitions the workers can find.
local now, max_queued, item_prefix = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local segment_prefix, records, registered = ARGV[4], ARGV[5], ARGV[6]
local state = redis.call('HMGET', KEYS[2], 'length', 'registered')
if not state[2] then
  if registered ~= '1' then return {-2} end
  redis.call('HSET', KEYS[2], 'registered', '1')
end
local depth = tonumber(state[1] or 0) + redis.call('ZCARD', KEYS[3])
local queue = appender(KEYS[1], KEYS[2], segment_prefix, now)
local find, sub = string.find, string.sub
local codes, stored, duplicates, seen = {}, 0, 0, {}
-- One EXISTS over the whole chunk: when none of its ids is known (the usual case) the
-- per-item check is skipped; a call from Lua costs more than the lookup it makes.
local keys, pos, size = {}, 1, #records
while pos <= size do
  local a = find(records, '\31', pos, true)
  keys[#keys + 1] = item_prefix .. sub(records, pos, a - 1)
  pos = (find(records, '\n', a, true) or size) + 1
end
local known = 0
for s = 1, #keys, 1000 do
  known = known + redis.call('EXISTS', unpack(keys, s, math.min(s + 999, #keys)))
end
local n = 0
pos = 1
while pos <= size do
  n = n + 1
  local stop = find(records, '\n', pos, true) or size + 1
  local a = find(records, '\31', pos, true)
  local b = find(records, '\31', a + 1, true)
  local c = find(records, '\31', b + 1, true)
  local d = find(records, '\31', c + 1, true)
  local id = sub(records, pos, a - 1)
  local key = keys[n]
  if seen[id] or (known > 0 and redis.call('EXISTS', key) == 1) then
    codes[#codes + 1] = 0
    duplicates = duplicates + 1
  elseif depth >= max_queued then
    codes[#codes + 1] = -1
  else
    local inputs = tonumber(sub(records, c + 1, d - 1))
    local segment = queue.add(id, sub(records, d + 1, stop - 1), inputs, b > a + 1)
    -- One HSET per item: every field is known here. The line lives in the segment, and the
    -- attempt is 1 until settle.lua writes one (two arguments fewer: 5% of this script).
    local fields = {'state', 'queued', 'queued_at', now, 'segment', segment}
    if b > a + 1 then
      fields[#fields + 1] = 'callback'; fields[#fields + 1] = sub(records, a + 1, b - 1)
    end
    if c > b + 1 then
      fields[#fields + 1] = 'metadata'; fields[#fields + 1] = sub(records, b + 1, c - 1)
    end
    if inputs ~= 0 then fields[#fields + 1] = 'inputs'; fields[#fields + 1] = inputs end
    redis.call('HSET', key, unpack(fields))
    stored = stored + 1
    seen[id] = true
    depth = depth + 1
    codes[#codes + 1] = 1
  end
  pos = stop + 1
end
queue.flush()
if duplicates > 0 then redis.call('HINCRBY', KEYS[2], 'duplicates', duplicates) end
if stored > 0 then
  redis.call('HINCRBY', KEYS[4], 'queued', stored)
  redis.call('HINCRBY', KEYS[4], 'submitted_total', stored)
end
return codes
