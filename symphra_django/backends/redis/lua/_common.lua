-- Shared by every script (prepended when the scripts are loaded).
-- KEYS are one queue's keys, all under the hash tag {prefix:queue} (see
-- keys.py and docs/backends/redis.md for the layout).
--
-- Redis does not roll a script back when it fails half-way: writes made
-- before an error stay. So every script first checks all it will rely on
-- (key types, arguments, each stored entry it reads) and only then writes,
-- with commands that cannot fail on what was checked. A stored entry that is
-- not what the scripts write is never a reason to stop: it goes to the
-- failed store with a short reason (or, if it names no task, is removed
-- from its index), and the script reports it so that Python logs one line.
local K_TASKS, K_STATE, K_READY, K_DELAYED, K_LEASES, K_TOKENS, K_SEQ, K_FAILED, K_FAILED_AT =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9]
-- An ordering key is 7 priority digits, 17 time digits (microseconds), 16
-- sequence digits, then the task id: byte order is (priority desc, time, seq).
local ORD_PREFIX = 40
local ORD_PATTERN = '^' .. string.rep('%d', ORD_PREFIX)
-- The priority and time part of an ordering key, as Python sends it.
local HEAD_PATTERN = '^' .. string.rep('%d', 24) .. '$'
-- Deliveries and limits have at most this many digits: Lua prints larger
-- numbers in exponent notation, which would not parse back.
local MAX_COUNT_DIGITS = 9
-- Bounded work per call, so that one script never blocks the server for long.
local BATCH = 1000
-- Pub/sub channel (not a key) that tells idle workers a task is due now.
local WAKE_CHANNEL = string.sub(K_TASKS, 1, -6) .. 'wake'
-- How much of a malformed id or index member a report quotes.
local QUOTE = 80

local KEY_TYPES = {
  [K_TASKS] = 'hash', [K_STATE] = 'hash', [K_READY] = 'zset', [K_DELAYED] = 'zset',
  [K_LEASES] = 'zset', [K_TOKENS] = 'hash', [K_SEQ] = 'string', [K_FAILED] = 'hash',
  [K_FAILED_AT] = 'zset',
}

local function fail_script(message)
  error({err = 'ERR symphra: ' .. message})
end

-- Refuse to run (before any write) on keys of the wrong type or a sequence
-- that is not a counter: the queue's storage itself is damaged, and a
-- command failing on it half-way through would strand tasks.
local function check_keys(...)
  local keys = {...}
  if #keys == 0 then keys = KEYS end
  for _, key in ipairs(keys) do
    local kind = redis.call('TYPE', key)['ok']
    if kind ~= 'none' and kind ~= KEY_TYPES[key] then
      fail_script('key ' .. key .. ' holds a ' .. kind .. ', not a ' .. KEY_TYPES[key] ..
        ': the queue storage is damaged (clear the queue or delete the key)')
    end
    if key == K_SEQ and kind == 'string' then
      local seq = redis.call('GET', K_SEQ)
      if not string.find(seq, '^%d+$') or #seq > 15 then
        fail_script('key ' .. K_SEQ .. ' is not a sequence number: the queue storage is damaged')
      end
    end
  end
end

-- Reports of malformed entries, for the caller to log: flat triplets of
-- action ('failed': moved to the failed store; 'removed': an index member
-- that names no task, deleted), the id or member (quoted, bounded), reason.
local reports = {}

local function quote(text)
  if #text > QUOTE then
    return string.sub(text, 1, QUOTE) .. '... (' .. #text .. ' bytes)'
  end
  return text
end

local function report(action, what, reason)
  reports[#reports + 1] = action
  reports[#reports + 1] = quote(what)
  reports[#reports + 1] = reason
end

-- Server time, so that hosts with skewed clocks agree on what is due.
local function server_now()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1e6
end

-- A finite number from an argument, or nil.
local function finite(raw)
  if type(raw) ~= 'string' and type(raw) ~= 'number' then return nil end
  local value = tonumber(raw)
  if value == nil or value ~= value or value == math.huge or value == -math.huge then
    return nil
  end
  return value
end

-- A whole count from an argument (attempts, limits, batch sizes), or nil.
local function count(raw)
  if type(raw) ~= 'string' or not string.find(raw, '^%d+$') or #raw > MAX_COUNT_DIGITS then
    return nil
  end
  return tonumber(raw)
end

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

-- Writes only: move a task to the failed store. payload (false if none was
-- stored) and attempts were read by the caller before it wrote anything.
local function file_failed(id, now, record, payload, attempts)
  record.payload = payload or ''
  record.attempts = attempts or 0
  record.failed_at = now
  local ok, encoded = pcall(cjson.encode, record)
  if not ok then
    encoded = cjson.encode({
      payload = record.payload, attempts = record.attempts, failed_at = now,
      error = 'the failure record could not be encoded',
    })
  end
  redis.call('HSET', K_FAILED, id, encoded)
  redis.call('ZADD', K_FAILED_AT, now, id)
  redis.call('HDEL', K_TASKS, id)
  redis.call('HDEL', K_STATE, id)
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

-- A reply followed by the reports: {reply, action1, what1, reason1, ...}.
local function with_reports(reply)
  local out = {reply}
  for _, item in ipairs(reports) do
    out[#out + 1] = item
  end
  return out
end
