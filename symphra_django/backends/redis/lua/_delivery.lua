-- Lease and delivery-state helpers, prepended after _common.lua to the
-- scripts that read leases, delivery states or ordering keys (see
-- keys.SCRIPT_PARTS); enqueue, ack, failed and clear do without them.
-- An ordering key's fixed-width prefix: priority, time and sequence digits.
local ORD_PREFIX = 40
local ORD_PATTERN = '^' .. string.rep('%d', ORD_PREFIX)

-- The task id an ordering key files, or nil if it is not an ordering key.
local function ordkey_id(ordkey)
  if #ordkey <= ORD_PREFIX or not string.find(ordkey, ORD_PATTERN) then
    return nil
  end
  return string.sub(ordkey, ORD_PREFIX + 1)
end

-- state is "attempts:limit:ordkey": deliveries so far, and the deliveries
-- allowed, computed in Python (messages.delivery_limit) when the task was
-- filed, so that these scripts only compare. Returns the three parts, or
-- nil and a short reason if raw (the state stored for task id) is not that.
local function parse_state(raw, id)
  if not raw then
    return nil, 'no delivery state stored'
  end
  local attempts, limit, ordkey = string.match(raw, '^(%d+):(%d+):(.*)$')
  if not attempts then
    return nil, 'delivery state is not "attempts:limit:ordering key"'
  end
  if #attempts > MAX_COUNT_DIGITS or #limit > MAX_COUNT_DIGITS then
    return nil, 'delivery state holds a count of more than ' .. MAX_COUNT_DIGITS .. ' digits'
  end
  if ordkey_id(ordkey) ~= id then
    return nil, 'delivery state holds no ordering key of this task'
  end
  return tonumber(attempts), tonumber(limit), ordkey
end

local function set_state(id, attempts, limit, ordkey)
  redis.call('HSET', K_STATE, id, attempts .. ':' .. limit .. ':' .. ordkey)
end

-- File a task under a fresh ordering key: ready if due, else delayed.
-- head and due were checked by the caller. Returns the ordkey and whether
-- the task is ready.
local function push(id, head, due, now)
  local seq = redis.call('INCR', K_SEQ)
  local ordkey = head .. string.format('%016d', seq) .. id
  if due <= now then
    redis.call('ZADD', K_READY, 0, ordkey)
    return ordkey, true
  end
  redis.call('ZADD', K_DELAYED, due, ordkey)
  return ordkey, false
end

-- Whether (id, token) is the live lease; a lapsed lease answers nothing.
local function held(id, token, now)
  if redis.call('HGET', K_TOKENS, id) ~= token then
    return false
  end
  local deadline = redis.call('ZSCORE', K_LEASES, id)
  return deadline ~= false and tonumber(deadline) > now
end

local function release(id)
  redis.call('ZREM', K_LEASES, id)
  redis.call('HDEL', K_TOKENS, id)
end

-- A failed-store record for a stored entry that is not what the scripts write.
local function malformed(reason)
  return {error = 'malformed stored task: ' .. reason, reason = 'malformed'}
end

-- Expired leases come back (C6) or, out of deliveries, fail (C7); due
-- delayed tasks become ready (C3). Run before anything reads the queue.
-- unset_limit stands for a limit stored as 0 (by an older version).
-- Reads and checks every expired entry first, then writes.
local function maintain(now, unset_limit)
  local expired = redis.call('ZRANGEBYSCORE', K_LEASES, '-inf', now, 'LIMIT', 0, BATCH)
  local back, failing = {}, {}
  if #expired > 0 then
    local states = redis.call('HMGET', K_STATE, unpack(expired))
    for i, id in ipairs(expired) do
      -- On a malformed state, the second value is the reason.
      local attempts, limit, ordkey = parse_state(states[i], id)
      if attempts then
        if limit == 0 then limit = unset_limit end
        if attempts >= limit then
          failing[#failing + 1] = {id, {reason = 'lease_expired'}, attempts}
        else
          back[#back + 1] = 0
          back[#back + 1] = ordkey
        end
      elseif redis.call('HEXISTS', K_TASKS, id) == 1 or states[i] then
        local reason = limit
        failing[#failing + 1] = {id, malformed(reason), 0}
        report('failed', id, reason)
      else
        -- A lease of nothing: no payload and no state to file.
        report('removed', id, 'lease of a task with no payload and no delivery state')
      end
    end
    for _, entry in ipairs(failing) do
      entry[4] = redis.call('HGET', K_TASKS, entry[1])
    end
  end
  local due = redis.call('ZRANGEBYSCORE', K_DELAYED, '-inf', now, 'LIMIT', 0, BATCH)
  -- Writes.
  if #expired > 0 then
    redis.call('ZREM', K_LEASES, unpack(expired))
    redis.call('HDEL', K_TOKENS, unpack(expired))
    if #back > 0 then redis.call('ZADD', K_READY, unpack(back)) end
    for _, entry in ipairs(failing) do
      file_failed(entry[1], now, entry[2], entry[4], entry[3])
    end
  end
  if #due > 0 then
    redis.call('ZREM', K_DELAYED, unpack(due))
    local args = {}
    for i, ordkey in ipairs(due) do
      args[2 * i - 1] = 0
      args[2 * i] = ordkey
    end
    redis.call('ZADD', K_READY, unpack(args))
  end
end
