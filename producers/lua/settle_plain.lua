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
--       the batch's entry in undelivered (keys.batch_entry), records: one per item,
--       separated by '\n', each the id, '1' if it has no callback (else '0') and the output line, separated by '\31' (neither separator can occur in
--       an id, and a JSON line holds no raw control character).
-- Returns the 0-based positions of the records skipped (their ids had a result already).
local now, deadline, ttl, wprefix, nprefix = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local prefix, entry, records = ARGV[6], ARGV[7], ARGV[8]
local find, sub, byte = string.find, string.sub, string.byte
local ids, done_now, lines, pos, size = {}, {}, {}, 1, #records
while pos <= size do
  local a = find(records, '\31', pos, true)
  local stop = find(records, '\n', a, true) or size + 1
  ids[#ids + 1] = sub(records, pos, a - 1)
  done_now[#done_now + 1] = byte(records, a + 1) == 49  -- '1'
  lines[#lines + 1] = sub(records, a + 3, stop - 1)
  pos = stop + 1
end
local stored, delivered, due, fields, skipped = 0, 0, 0, {}, {}
for s = 1, #ids, 1000 do
  local e = math.min(s + 999, #ids)
  local known = redis.call('HMGET', KEYS[1], unpack(ids, s, e))
  local flags = {}
  for i = s, e do flags[i - s + 1] = wprefix .. ids[i] end
  flags = redis.call('MGET', unpack(flags))
  for i = s, e do
    if known[i - s + 1] then
      skipped[#skipped + 1] = i - 1
    else
      local id = ids[i]
      stored = stored + 1
      fields[#fields + 1] = id
      fields[#fields + 1] = lines[i]
      if done_now[i] then
        redis.call('HSET', prefix .. id, 'st', 'delivered', 'out', 'succeeded',
          't_succeeded', now, 't_delivered', now)
        redis.call('EXPIRE', prefix .. id, ttl)
        delivered = delivered + 1
      else
        due = due + 1
      end
      if flags[i - s + 1] then  -- a Producer.wait() blocks on it
        redis.call('RPUSH', nprefix .. id, '1')
        redis.call('EXPIRE', nprefix .. id, 300)
      end
    end
  end
end
if stored == 0 then return skipped end
for s = 1, #fields, 2000 do
  redis.call('HSET', KEYS[1], unpack(fields, s, math.min(s + 1999, #fields)))
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
