-- Store a chunk of successes of a batch's items in bulk: each output line as it came is the
-- item's result (producers/results.py reads it). An item with a callback is counted in the
-- batch's 'unclaimed' and its hash is neither read nor written (delivery writes the state);
-- the batch's entry in undelivered leases their delivery until each is taken (one entry, not
-- one per item: that was a quarter of this script's cost). One without a callback is marked
-- delivered here (its Redis result is its delivery). An id that already has a result in the
-- batch is skipped, so running a chunk twice (a collect resumed after a crash) changes
-- nothing.
-- KEYS: results, undelivered, counts, batch
-- ARGV: now, delivery_until, result_ttl, waiting_prefix, notify_prefix, item_prefix, batch_entry, no_callback_flags, ...ids_and_lines
--   results: the batch's results hash.
--   batch_entry: the batch's entry in undelivered (keys.batch_entry).
--   no_callback_flags: one character per item, '1' if it has no callback, else '0'.
--   ids_and_lines: each item's id and output line, the arguments of the results' HSET as
--     they are, which is why no line is split or copied here.
-- Returns the 0-based positions of the items skipped (their ids had a result already).
local now, delivery_until, result_ttl = ARGV[1], ARGV[2], ARGV[3]
local waiting_prefix, notify_prefix, item_prefix = ARGV[4], ARGV[5], ARGV[6]
local batch_entry, no_callback_flags = ARGV[7], ARGV[8]
local FIRST, BLOCK = 9, 1000
local n = (#ARGV - FIRST + 1) / 2
local byte = string.byte
local ids = {}
for i = 1, n do ids[i] = ARGV[FIRST + 2 * i - 2] end

local skipped, known, skipped_count = {}, {}, 0
local stored, delivered, due = 0, 0, 0
for s = 1, n, BLOCK do
  local e = math.min(s + BLOCK - 1, n)
  local found = redis.call('HMGET', KEYS[1], unpack(ids, s, e))
  local waiting = {}
  for i = s, e do waiting[i - s + 1] = waiting_prefix .. ids[i] end
  waiting = redis.call('MGET', unpack(waiting))
  for i = s, e do
    if found[i - s + 1] then
      skipped_count = skipped_count + 1
      skipped[skipped_count] = i - 1
      known[i] = true
    else
      local id = ids[i]
      stored = stored + 1
      if byte(no_callback_flags, i) == 49 then  -- '1': no callback
        redis.call('HSET', item_prefix .. id, 'state', 'delivered', 'outcome', 'succeeded',
          'succeeded_at', now, 'delivered_at', now)
        redis.call('EXPIRE', item_prefix .. id, result_ttl)
        delivered = delivered + 1
      else
        due = due + 1
      end
      if waiting[i - s + 1] then  -- a Producer.wait() blocks on it
        redis.call('RPUSH', notify_prefix .. id, '1')
        redis.call('EXPIRE', notify_prefix .. id, 300)
      end
    end
  end
end
if stored == 0 then return skipped end
for s = 1, n, BLOCK do
  local e = math.min(s + BLOCK - 1, n)
  if skipped_count == 0 then  -- the usual chunk: the arguments are the fields
    redis.call('HSET', KEYS[1], unpack(ARGV, FIRST + 2 * s - 2, FIRST + 2 * e - 1))
  else
    local fields, nf = {}, 0
    for i = s, e do
      if not known[i] then
        fields[nf + 1], fields[nf + 2] = ids[i], ARGV[FIRST + 2 * i - 1]
        nf = nf + 2
      end
    end
    if nf > 0 then redis.call('HSET', KEYS[1], unpack(fields)) end
  end
end
if due > 0 then
  redis.call('ZADD', KEYS[2], delivery_until, batch_entry)
  redis.call('HINCRBY', KEYS[4], 'unclaimed', due)
end
redis.call('EXPIRE', KEYS[1], result_ttl)
redis.call('HINCRBY', KEYS[3], 'submitted', -stored)
if stored > delivered then redis.call('HINCRBY', KEYS[3], 'succeeded', stored - delivered) end
if delivered > 0 then
  redis.call('HINCRBY', KEYS[3], 'delivered', delivered)
  redis.call('HINCRBY', KEYS[3], 'delivered_succeeded', delivered)
end
redis.call('HSET', KEYS[4], 'settled_at', now)
return skipped
