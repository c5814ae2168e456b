-- ARGV: n, lease seconds, delivery limit for a state stored without one, token prefix.
-- Leases up to n (at most BATCH) due tasks, best first (C4, C5), with a
-- fixed number of commands per batch. Returns
-- {deadline, wait, id1, payload1, attempts1, token1, id2, ...} where wait is
-- the seconds until the next delayed task is due ('' if none, or if the
-- batch is full and the caller will claim again at once anyway).
local now = server_now()
local n = math.min(tonumber(ARGV[1]), BATCH)
local deadline = now + tonumber(ARGV[2])
maintain(now, tonumber(ARGV[3]))
local out = {tostring(deadline), ''}
if n < 1 then return out end
local picked = redis.call('ZRANGE', K_READY, 0, n - 1)
if #picked < n then
  local next_due = redis.call('ZRANGE', K_DELAYED, 0, 0, 'WITHSCORES')[2]
  if next_due then out[2] = tostring(tonumber(next_due) - now) end
end
if #picked == 0 then return out end
redis.call('ZREMRANGEBYRANK', K_READY, 0, #picked - 1)
local ids = {}
for i, ordkey in ipairs(picked) do
  ids[i] = string.sub(ordkey, ORD_PREFIX + 1)
end
local states = redis.call('HMGET', K_STATE, unpack(ids))
local payloads = redis.call('HMGET', K_TASKS, unpack(ids))
local new_states, tokens, leases = {}, {}, {}
for i, id in ipairs(ids) do
  if states[i] then
    local attempts, limit = parse_state(states[i])
    attempts = attempts + 1
    local token = ARGV[4] .. i
    new_states[#new_states + 1] = id
    new_states[#new_states + 1] = attempts .. ':' .. limit .. ':' .. picked[i]
    tokens[#tokens + 1] = id
    tokens[#tokens + 1] = token
    leases[#leases + 1] = deadline
    leases[#leases + 1] = id
    out[#out + 1] = id
    out[#out + 1] = payloads[i] or ''
    out[#out + 1] = attempts
    out[#out + 1] = token
  end
end
if #new_states > 0 then
  redis.call('HSET', K_STATE, unpack(new_states))
  redis.call('HSET', K_TOKENS, unpack(tokens))
  redis.call('ZADD', K_LEASES, unpack(leases))
end
return out
