-- ARGV: n, lease seconds, delivery limit for a state stored without one, token prefix.
-- Leases up to n (at most BATCH) due tasks, best first (C4, C5), with a
-- fixed number of commands per batch. Returns
-- {{deadline, wait, id1, payload1, attempts1, token1, id2, ...}, reports...}
-- where wait is the seconds until the next delayed task is due ('' if none,
-- or if the batch is full and the caller will claim again at once anyway)
-- and reports name the malformed entries met (see _common.lua).
--
-- A ready entry whose task cannot be handed out (no or malformed delivery
-- state, no payload) goes to the failed store on its own; the others of
-- the batch are leased as usual.
check_keys()
local n, lease, unset_limit = count(ARGV[1]), finite(ARGV[2]), count(ARGV[3])
if not n or not lease or lease <= 0 or not unset_limit then
  fail_script('claim takes a count, a positive lease in seconds and a delivery limit')
end
local now = server_now()
n = math.min(n, BATCH)
local deadline = now + lease
maintain(now, unset_limit)
local out = {tostring(deadline), ''}
if n < 1 then return with_reports(out) end

-- Read and check.
local picked = redis.call('ZRANGE', K_READY, 0, n - 1)
if #picked < n then
  local next_due = redis.call('ZRANGE', K_DELAYED, 0, 0, 'WITHSCORES')[2]
  if next_due then out[2] = tostring(tonumber(next_due) - now) end
end
if #picked == 0 then return with_reports(out) end
local ids, ordkeys, seen = {}, {}, {}
for _, ordkey in ipairs(picked) do
  local id = ordkey_id(ordkey)
  if not id then
    report('removed', ordkey, 'ready index member is not an ordering key')
  elseif seen[id] then
    report('removed', ordkey, 'second ready index member of the same task')
  else
    seen[id] = true
    ids[#ids + 1] = id
    ordkeys[#ordkeys + 1] = ordkey
  end
end
local claimed, failing = {}, {}
if #ids > 0 then
  local states = redis.call('HMGET', K_STATE, unpack(ids))
  local payloads = redis.call('HMGET', K_TASKS, unpack(ids))
  local leased = redis.call('ZMSCORE', K_LEASES, unpack(ids))
  for i, id in ipairs(ids) do
    -- On a malformed state, the second value is the reason.
    local attempts, limit = parse_state(states[i], id)
    if leased[i] then
      -- The task is in flight under its own entry: this one is stale.
      report('removed', ordkeys[i], 'ready index member of a task in flight')
    elseif not attempts then
      failing[#failing + 1] = {id, malformed(limit), payloads[i], 0}
      report('failed', id, limit)
    elseif not payloads[i] then
      failing[#failing + 1] = {id, malformed('no payload stored'), false, attempts}
      report('failed', id, 'no payload stored')
    else
      claimed[#claimed + 1] = {id, attempts + 1, limit, ordkeys[i], payloads[i]}
    end
  end
end

-- Write.
redis.call('ZREMRANGEBYRANK', K_READY, 0, #picked - 1)
for _, entry in ipairs(failing) do
  file_failed(entry[1], now, entry[2], entry[3], entry[4])
end
if #claimed > 0 then
  local new_states, tokens, leases = {}, {}, {}
  for i, entry in ipairs(claimed) do
    local id, attempts = entry[1], entry[2]
    local token = ARGV[4] .. i
    new_states[#new_states + 1] = id
    new_states[#new_states + 1] = attempts .. ':' .. entry[3] .. ':' .. entry[4]
    tokens[#tokens + 1] = id
    tokens[#tokens + 1] = token
    leases[#leases + 1] = deadline
    leases[#leases + 1] = id
    out[#out + 1] = id
    out[#out + 1] = entry[5]
    out[#out + 1] = attempts
    out[#out + 1] = token
  end
  redis.call('HSET', K_STATE, unpack(new_states))
  redis.call('HSET', K_TOKENS, unpack(tokens))
  redis.call('ZADD', K_LEASES, unpack(leases))
end
return with_reports(out)
