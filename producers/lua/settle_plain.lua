-- Store a chunk of plain successes of a batch's items in bulk: each output line as it came is
-- the item's result (producers/results.py reads it). An item with a callback is counted in the
-- batch's 'unclaimed' and its hash is neither read nor written (delivery writes the state);
-- the batch's entry in undelivered leases their delivery until each is claimed (one entry,
-- not one per item: that was a quarter of this script's cost). One without a callback is marked
-- delivered here (its Redis result is its delivery). An id that already has a result in
-- the batch is skipped, so running a chunk twice (a collect resumed after a crash) changes
-- nothing.
-- KEYS: results (the batch's), undelivered, counts, batch
-- ARGV: now, delivery deadline, result_ttl, waiting prefix, notify prefix, item prefix,
--       the batch's entry in undelivered (keys.batch_entry), one flag per item ('1' if it
--       has no callback, else '0'), then each item's id and output line: the arguments of the
--       results' HSET as they are, which is why no line is split or copied here.
-- Returns the 0-based positions of the items skipped (their ids had a result already).
local now, deadline, ttl, wprefix, nprefix = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local prefix, entry, flags = ARGV[6], ARGV[7], ARGV[8]
local FIRST, BLOCK = 9, 1000
local n = (#ARGV - FIRST + 1) / 2
local byte = string.byte
local ids = {}
for i = 1, n do ids[i] = ARGV[FIRST + 2 * i - 2] end

local skipped, known, ns = {}, {}, 0
local stored, delivered, due = 0, 0, 0
for s = 1, n, BLOCK do
  local e = math.min(s + BLOCK - 1, n)
  local found = redis.call('HMGET', KEYS[1], unpack(ids, s, e))
  local waiting = {}
  for i = s, e do waiting[i - s + 1] = wprefix .. ids[i] end
  waiting = redis.call('MGET', unpack(waiting))
  for i = s, e do
    if found[i - s + 1] then
      ns = ns + 1
      skipped[ns] = i - 1
      known[i] = true
    else
      local id = ids[i]
      stored = stored + 1
      if byte(flags, i) == 49 then  -- '1': no callback
        redis.call('HSET', prefix .. id, 'st', 'delivered', 'out', 'succeeded',
          't_succeeded', now, 't_delivered', now)
        redis.call('EXPIRE', prefix .. id, ttl)
        delivered = delivered + 1
      else
        due = due + 1
      end
      if waiting[i - s + 1] then  -- a Producer.wait() blocks on it
        redis.call('RPUSH', nprefix .. id, '1')
        redis.call('EXPIRE', nprefix .. id, 300)
      end
    end
  end
end
if stored == 0 then return skipped end
for s = 1, n, BLOCK do
  local e = math.min(s + BLOCK - 1, n)
  if ns == 0 then  -- the usual chunk: the arguments are the fields
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
  redis.call('ZADD', KEYS[2], deadline, entry)
  redis.call('HINCRBY', KEYS[4], 'unclaimed', due)
end
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('HINCRBY', KEYS[3], 'submitted', -stored)
if stored > delivered then redis.call('HINCRBY', KEYS[3], 'succeeded', stored - delivered) end
if delivered > 0 then
  redis.call('HINCRBY', KEYS[3], 'delivered', delivered)
  redis.call('HINCRBY', KEYS[3], 'delivered_succeeded', delivered)
end
redis.call('HSET', KEYS[4], 't_settled', now)
return skipped
