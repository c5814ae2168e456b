-- ARGV: mode ('new' or 'retry'), then per task (at most BATCH): id, payload,
-- attempts so far, delivery limit, head, due. 'new' skips ids already queued or in flight (C2) and
-- repeats within the batch; 'retry' moves only ids that are in the failed
-- store. A fixed number of commands per batch. Returns how many were filed.
local now = server_now()
local retry = ARGV[1] == 'retry'
local ids = {}
for i = 2, #ARGV, 6 do
  ids[#ids + 1] = ARGV[i]
end
if #ids == 0 then return 0 end
local known = redis.call('HMGET', K_TASKS, unpack(ids))
local failed = redis.call('HMGET', K_FAILED, unpack(ids))
local seq = redis.call('INCRBY', K_SEQ, #ids) - #ids
local ready, delayed, payloads, states, unfailed, seen = {}, {}, {}, {}, {}, {}
for j, id in ipairs(ids) do
  if not known[j] and not seen[id] and (failed[j] or not retry) then
    seen[id] = true
    local i = 2 + (j - 1) * 6
    seq = seq + 1
    local ordkey = ARGV[i + 4] .. string.format('%016d', seq) .. id
    local due = tonumber(ARGV[i + 5])
    if due <= now then
      ready[#ready + 1] = 0
      ready[#ready + 1] = ordkey
    else
      delayed[#delayed + 1] = due
      delayed[#delayed + 1] = ordkey
    end
    payloads[#payloads + 1] = id
    payloads[#payloads + 1] = ARGV[i + 1]
    states[#states + 1] = id
    states[#states + 1] = ARGV[i + 2] .. ':' .. ARGV[i + 3] .. ':' .. ordkey
    if failed[j] then unfailed[#unfailed + 1] = id end
  end
end
if #payloads == 0 then return 0 end
redis.call('HSET', K_TASKS, unpack(payloads))
redis.call('HSET', K_STATE, unpack(states))
if #delayed > 0 then redis.call('ZADD', K_DELAYED, unpack(delayed)) end
if #unfailed > 0 then
  redis.call('HDEL', K_FAILED, unpack(unfailed))
  redis.call('ZREM', K_FAILED_AT, unpack(unfailed))
end
if #ready > 0 then
  redis.call('ZADD', K_READY, unpack(ready))
  wake()
end
return #payloads / 2
