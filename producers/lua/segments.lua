-- Library: a partition's queue of segments, for every script that puts items into the queue
-- or reads their lines (submit, claim_segments, promote, retry_dead, release_segments, settle).
-- The queue is a LIST of segment numbers. Segment <n> is three keys: <segment_prefix><n>, a
-- HASH (items, bytes, inputs, tokens, callbacks, opened_at, and batch and claimed_at once a
-- batch has claimed it; callbacks is at least the number of its items with a callback, so 0
-- means none has one), and <segment_prefix><n>:ids and <segment_prefix><n>:lines, LISTs in
-- the same order. Packing claims whole segments, so it moves bytes and no per-item state: an
-- item is packed while the segment its hash names is claimed by a batch.
local SEGMENT_ITEMS, SEGMENT_BYTES = 1000, 4194304

-- The token estimate (the only one): 1 per 4 bytes of the request line.
local function tokens_of(line)
  return math.floor(#line / 4) + 1
end

-- Appends items at the tail of the queue, opening segments as they fill. Writes are buffered
-- and made once per segment by flush(), which the caller must call before returning.
local function appender(queue, queue_state, segment_prefix, now)
  local a = {ids = {}, lines = {}, bytes = 0, inputs = 0, tokens = 0, callbacks = 0}
  a.tail = redis.call('HGET', queue_state, 'tail')
  a.items, a.size = 0, 0
  if a.tail then
    local m = redis.call('HMGET', segment_prefix .. a.tail, 'items', 'bytes')
    a.items, a.size = tonumber(m[1]) or 0, tonumber(m[2]) or 0
  end

  function a.flush()
    local count = #a.ids
    if count == 0 then return end
    local key = segment_prefix .. a.tail
    redis.call('RPUSH', key .. ':ids', unpack(a.ids))
    redis.call('RPUSH', key .. ':lines', unpack(a.lines))
    redis.call('HINCRBY', key, 'items', count)
    redis.call('HINCRBY', key, 'bytes', a.bytes)
    if a.inputs > 0 then redis.call('HINCRBY', key, 'inputs', a.inputs) end
    if a.callbacks > 0 then redis.call('HINCRBY', key, 'callbacks', a.callbacks) end
    redis.call('HINCRBY', key, 'tokens', a.tokens)
    redis.call('HINCRBY', queue_state, 'length', count)
    a.ids, a.lines, a.bytes, a.inputs, a.tokens, a.callbacks = {}, {}, 0, 0, 0, 0
  end

  -- Returns the number of the segment the item went into.
  function a.add(id, line, inputs, callback)
    local size = #line + 1
    local count = a.items + #a.ids
    if not a.tail or count >= SEGMENT_ITEMS
        or (count > 0 and a.size + a.bytes + size > SEGMENT_BYTES) then
      a.flush()
      a.tail = tostring(redis.call('HINCRBY', queue_state, 'last_segment', 1))
      redis.call('HSET', segment_prefix .. a.tail, 'opened_at', now)
      redis.call('HSET', queue_state, 'tail', a.tail)
      redis.call('RPUSH', queue, a.tail)
      a.items, a.size = 0, 0
    end
    a.ids[#a.ids + 1] = id
    a.lines[#a.lines + 1] = line
    a.bytes = a.bytes + size
    a.inputs = a.inputs + inputs
    a.tokens = a.tokens + tokens_of(line)
    if callback then a.callbacks = a.callbacks + 1 end
    return a.tail
  end

  return a
end

-- Opens a segment outside the tail holding the given items (a claim's split, a release);
-- returns its number. The caller places the number in the queue or in a batch. ``callbacks``:
-- those of the segment the items came from, a bound for theirs.
local function new_segment(queue_state, segment_prefix, opened_at, ids, lines, inputs, callbacks)
  local number = tostring(redis.call('HINCRBY', queue_state, 'last_segment', 1))
  local key, bytes, tokens = segment_prefix .. number, 0, 0
  for _, line in ipairs(lines) do
    bytes = bytes + #line + 1
    tokens = tokens + tokens_of(line)
  end
  redis.call('RPUSH', key .. ':ids', unpack(ids))
  redis.call('RPUSH', key .. ':lines', unpack(lines))
  redis.call('HSET', key, 'items', #ids, 'bytes', bytes, 'inputs', inputs, 'tokens', tokens,
    'opened_at', opened_at, 'callbacks', callbacks)
  return number
end

-- Reads the request lines of items out of their segments, one LRANGE pair per segment.
local function line_finder(segment_prefix)
  local cache = {}
  return function(id, segment)
    if not segment then return nil end
    local lines = cache[segment]
    if not lines then
      lines = {}
      local ids = redis.call('LRANGE', segment_prefix .. segment .. ':ids', 0, -1)
      local all = redis.call('LRANGE', segment_prefix .. segment .. ':lines', 0, -1)
      for i, member in ipairs(ids) do lines[member] = all[i] end
      cache[segment] = lines
    end
    return lines[id]
  end
end

-- The batch that claimed each segment (false while it is queued), one HGET per segment.
local function batch_finder(segment_prefix)
  local cache = {}
  return function(segment)
    if not segment then return false end
    local batch = cache[segment]
    if batch == nil then
      batch = redis.call('HGET', segment_prefix .. segment, 'batch')
      cache[segment] = batch
    end
    return batch
  end
end
