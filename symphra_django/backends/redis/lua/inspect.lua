-- ARGV: what ('stats', 'status', 'peek' or 'task'), delivery limit for a state
-- stored without one, argument.
-- Read-mostly views of one queue, after the same upkeep as a claim. Returns
-- {view, reports...}. Malformed entries are skipped here (a claim files them).
check_keys()
local unset_limit = count(ARGV[2])
if not unset_limit then fail_script('inspect takes a delivery limit') end
local now = server_now()
maintain(now, unset_limit)
if ARGV[1] == 'status' then
  local id = ARGV[3]
  if redis.call('ZSCORE', K_LEASES, id) then return with_reports('in_flight') end
  local state = redis.call('HGET', K_STATE, id)
  if state then
    local attempts, _, ordkey = parse_state(state, id)
    if attempts and redis.call('ZSCORE', K_DELAYED, ordkey) then
      return with_reports('delayed')
    end
    return with_reports('ready')
  end
  if redis.call('HEXISTS', K_FAILED, id) == 1 then return with_reports('failed') end
  return with_reports(false)
end
if ARGV[1] == 'task' then
  -- {'queued', payload, attempts, token, lease deadline} (token and deadline
  -- nil unless leased), {'failed', record}, or {} for an unknown id.
  local id = ARGV[3]
  local payload = redis.call('HGET', K_TASKS, id)
  if payload then
    local attempts = parse_state(redis.call('HGET', K_STATE, id), id)
    local deadline = redis.call('ZSCORE', K_LEASES, id)
    return with_reports({'queued', payload, attempts or 0, deadline and redis.call('HGET', K_TOKENS, id), deadline})
  end
  local record = redis.call('HGET', K_FAILED, id)
  if record then return with_reports({'failed', record}) end
  return with_reports({})
end
if ARGV[1] == 'peek' then
  local limit = count(ARGV[3])
  if not limit then fail_script('peek takes a count') end
  if limit == 0 then return with_reports({}) end
  local ordkeys = redis.call('ZRANGE', K_READY, 0, limit - 1)
  if #ordkeys < limit then
    for _, ordkey in ipairs(redis.call('ZRANGE', K_DELAYED, 0, limit - #ordkeys - 1)) do
      ordkeys[#ordkeys + 1] = ordkey
    end
  end
  local out = {}
  for _, ordkey in ipairs(ordkeys) do
    local id = ordkey_id(ordkey)
    if id then
      local attempts = parse_state(redis.call('HGET', K_STATE, id), id)
      out[#out + 1] = id
      out[#out + 1] = redis.call('HGET', K_TASKS, id) or ''
      out[#out + 1] = attempts or 0
    end
  end
  return with_reports(out)
end
-- stats: the oldest due time is the least among the first task of each
-- priority present, found by jumping from one priority to the next (a
-- member that is not an ordering key is stepped over; at most BATCH steps).
local oldest = false
local first = redis.call('ZRANGE', K_READY, 0, 0)[1]
local steps = 0
while first and steps < BATCH do
  steps = steps + 1
  local priority, micros = string.match(first, '^(%d%d%d%d%d%d%d)(' .. string.rep('%d', 17) .. ')')
  local after
  if priority then
    local due = tonumber(micros) / 1e6
    if not oldest or due < oldest then oldest = due end
    if priority == '9999999' then break end
    after = '[' .. string.format('%07d', tonumber(priority) + 1)
  else
    after = '(' .. first
  end
  first = redis.call('ZRANGEBYLEX', K_READY, after, '+', 'LIMIT', 0, 1)[1]
end
return with_reports({
  redis.call('ZCARD', K_READY) + redis.call('ZCOUNT', K_DELAYED, '-inf', now),
  redis.call('ZCOUNT', K_DELAYED, '(' .. now, '+inf'),
  redis.call('ZCARD', K_LEASES),
  redis.call('HLEN', K_FAILED),
  oldest and tostring(oldest) or false,
})
