-- Shared by every script (prepended when the scripts are loaded; the
-- lease and delivery-state helpers are in _delivery.lua, prepended only to
-- the scripts that use them, since Redis runs the whole chunk on every call).
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
-- The priority and time part of one, as Python sends it:
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

local function fail_script(message)
  error({err = 'ERR symphra: ' .. message})
end

-- Refuse to run (before any write) on keys of the wrong type or a sequence
-- that is not a counter: the queue's storage itself is damaged, and a
-- command failing on it half-way through would strand tasks.
local function check_keys(...)
  -- Built here, not with the constants: a script that needs no check (a
  -- plain enqueue) skips building it on every call.
  local KEY_TYPES = {
    [K_TASKS] = 'hash', [K_STATE] = 'hash', [K_READY] = 'zset', [K_DELAYED] = 'zset',
    [K_LEASES] = 'zset', [K_TOKENS] = 'hash', [K_SEQ] = 'string', [K_FAILED] = 'hash',
    [K_FAILED_AT] = 'zset',
  }
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

-- pcall: a user whose ACL lacks the channel still enqueues (workers poll).
-- With no delay a task is due now; with one (seconds from now) a delayed
-- task was filed, and the listening process arms its timer for it instead
-- of waking a worker to learn it from a claim.
local function wake(delay)
  redis.pcall('PUBLISH', WAKE_CHANNEL, delay and string.format('%.6f', delay) or '')
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

-- A reply followed by the reports: {reply, action1, what1, reason1, ...}.
local function with_reports(reply)
  local out = {reply}
  for _, item in ipairs(reports) do
    out[#out + 1] = item
  end
  return out
end
