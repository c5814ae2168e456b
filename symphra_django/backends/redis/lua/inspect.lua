-- ARGV: what ('stats', 'status' or 'peek'), delivery limit for a state stored
-- without one, argument.
-- Read-mostly views of one queue, after the same upkeep as a claim.
local now = server_now()
maintain(now, tonumber(ARGV[2]))
if ARGV[1] == 'status' then
  local id = ARGV[3]
  if redis.call('ZSCORE', K_LEASES, id) then return 'in_flight' end
  local state = redis.call('HGET', K_STATE, id)
  if state then
    local _, _, ordkey = parse_state(state)
    if redis.call('ZSCORE', K_DELAYED, ordkey) then return 'delayed' end
    return 'ready'
  end
  if redis.call('HEXISTS', K_FAILED, id) == 1 then return 'failed' end
  return false
end
if ARGV[1] == 'peek' then
  local limit = tonumber(ARGV[3])
  local ordkeys = redis.call('ZRANGE', K_READY, 0, limit - 1)
  if #ordkeys < limit then
    for _, ordkey in ipairs(redis.call('ZRANGE', K_DELAYED, 0, limit - #ordkeys - 1)) do
      ordkeys[#ordkeys + 1] = ordkey
    end
  end
  local out = {}
  for _, ordkey in ipairs(ordkeys) do
    local id = string.sub(ordkey, ORD_PREFIX + 1)
    local state = redis.call('HGET', K_STATE, id)
    out[#out + 1] = id
    out[#out + 1] = redis.call('HGET', K_TASKS, id) or ''
    out[#out + 1] = state and parse_state(state) or 0
  end
  return out
end
-- stats: the oldest due time is the least among the first task of each
-- priority present, found by jumping from one priority to the next.
local oldest = false
local first = redis.call('ZRANGE', K_READY, 0, 0)[1]
while first do
  local due = tonumber(string.sub(first, 8, 24)) / 1e6
  if not oldest or due < oldest then oldest = due end
  local next_priority = string.format('%07d', tonumber(string.sub(first, 1, 7)) + 1)
  first = redis.call('ZRANGEBYLEX', K_READY, '[' .. next_priority, '+', 'LIMIT', 0, 1)[1]
end
return {
  redis.call('ZCARD', K_READY) + redis.call('ZCOUNT', K_DELAYED, '-inf', now),
  redis.call('ZCOUNT', K_DELAYED, '(' .. now, '+inf'),
  redis.call('ZCARD', K_LEASES),
  redis.call('HLEN', K_FAILED),
  oldest and tostring(oldest) or false,
}
