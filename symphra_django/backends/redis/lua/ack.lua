-- ARGV: id1, token1, id2, token2, ... (at most BATCH pairs). Ends the live
-- leases among them, with a fixed number of commands per batch. Returns how
-- many were still held.
check_keys(K_TASKS, K_STATE, K_LEASES, K_TOKENS)
if #ARGV % 2 ~= 0 then fail_script('ack takes id, token pairs') end
local now = server_now()
local ids, tokens, seen = {}, {}, {}
for i = 1, #ARGV, 2 do
  local pair = ARGV[i] .. '\0' .. ARGV[i + 1]
  if not seen[pair] then
    seen[pair] = true
    ids[#ids + 1] = ARGV[i]
    tokens[#tokens + 1] = ARGV[i + 1]
  end
end
if #ids == 0 then return 0 end
local current = redis.call('HMGET', K_TOKENS, unpack(ids))
local deadlines = redis.call('ZMSCORE', K_LEASES, unpack(ids))
local done, counted = {}, {}
for i, id in ipairs(ids) do
  if not counted[id] and current[i] == tokens[i] and deadlines[i] and tonumber(deadlines[i]) > now then
    counted[id] = true
    done[#done + 1] = id
  end
end
if #done > 0 then
  redis.call('ZREM', K_LEASES, unpack(done))
  redis.call('HDEL', K_TOKENS, unpack(done))
  redis.call('HDEL', K_TASKS, unpack(done))
  redis.call('HDEL', K_STATE, unpack(done))
end
return #done
