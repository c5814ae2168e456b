-- Shared by every script (prepended when the scripts are loaded).
-- KEYS are one queue's keys, all under the hash tag {prefix:queue} (see
-- redis_keys.py and docs/backends/redis.md for the layout).
local K_TASKS, K_STATE, K_READY, K_DELAYED, K_LEASES, K_TOKENS, K_SEQ, K_FAILED, K_FAILED_AT =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9]
-- An ordering key is 7 priority digits, 17 time digits (microseconds), 16
-- sequence digits, then the task id: byte order is (priority desc, time, seq).
local ORD_PREFIX = 40
-- Bounded work per call, so that one script never blocks the server for long.
local BATCH = 1000
-- Pub/sub channel (not a key) that tells idle workers a task is due now.
local WAKE_CHANNEL = string.sub(K_TASKS, 1, -6) .. 'wake'

-- Server time, so that hosts with skewed clocks agree on what is due.
local function server_now()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1e6
end

-- state is "attempts:limit:ordkey": deliveries so far, and the deliveries
-- allowed, computed in Python (messages.delivery_limit) when the task was
-- filed, so that these scripts only compare.
local function parse_state(raw)
  local attempts, limit, ordkey = string.match(raw, '^(%d+):(%d+):(.*)$')
  return tonumber(attempts), tonumber(limit), ordkey
end

local function set_state(id, attempts, limit, ordkey)
  redis.call('HSET', K_STATE, id, attempts .. ':' .. limit .. ':' .. ordkey)
end

-- File a task under a fresh ordering key: ready if due, else delayed.
-- Returns the ordkey and whether the task is ready.
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

-- pcall: a user whose ACL lacks the channel still enqueues (workers poll).
local function wake()
  redis.pcall('PUBLISH', WAKE_CHANNEL, '')
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

-- Move a task (payload and delivery count) to the failed store.
local function to_failed(id, now, record)
  record.payload = redis.call('HGET', K_TASKS, id) or ''
  local state = redis.call('HGET', K_STATE, id)
  record.attempts = state and parse_state(state) or 0
  record.failed_at = now
  redis.call('HSET', K_FAILED, id, cjson.encode(record))
  redis.call('ZADD', K_FAILED_AT, now, id)
  redis.call('HDEL', K_TASKS, id)
  redis.call('HDEL', K_STATE, id)
end

-- Expired leases come back (C6) or, out of deliveries, fail (C7); due
-- delayed tasks become ready (C3). Run before anything reads the queue.
-- unset_limit stands for a limit stored as 0 (by an older version).
local function maintain(now, unset_limit)
  local expired = redis.call('ZRANGEBYSCORE', K_LEASES, '-inf', now, 'LIMIT', 0, BATCH)
  for _, id in ipairs(expired) do
    release(id)
    local state = redis.call('HGET', K_STATE, id)
    if state then
      local attempts, limit, ordkey = parse_state(state)
      if limit == 0 then limit = unset_limit end
      if attempts >= limit then
        to_failed(id, now, {reason = 'lease_expired'})
      else
        redis.call('ZADD', K_READY, 0, ordkey)
      end
    end
  end
  local due = redis.call('ZRANGEBYSCORE', K_DELAYED, '-inf', now, 'LIMIT', 0, BATCH)
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
