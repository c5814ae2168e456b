-- ARGV: n, lease seconds, default attempt limit, token prefix.
-- Leases up to n due tasks, best first (C4, C5). Returns
-- {deadline, id1, payload1, attempts1, token1, id2, ...}.
local now = server_now()
local n = tonumber(ARGV[1])
local deadline = now + tonumber(ARGV[2])
maintain(now, tonumber(ARGV[3]))
local out = {tostring(deadline)}
if n < 1 then return out end
local picked = redis.call('ZRANGE', K_READY, 0, n - 1)
if #picked > 0 then
  redis.call('ZREMRANGEBYRANK', K_READY, 0, #picked - 1)
end
for i, ordkey in ipairs(picked) do
  local id = string.sub(ordkey, ORD_PREFIX + 1)
  local state = redis.call('HGET', K_STATE, id)
  if state then
    local attempts, limit = parse_state(state)
    attempts = attempts + 1
    set_state(id, attempts, limit, ordkey)
    local token = ARGV[4] .. i
    redis.call('HSET', K_TOKENS, id, token)
    redis.call('ZADD', K_LEASES, deadline, id)
    out[#out + 1] = id
    out[#out + 1] = redis.call('HGET', K_TASKS, id) or ''
    out[#out + 1] = attempts
    out[#out + 1] = token
  end
end
return out
