-- ARGV: mode ('new' or 'retry'), then per task (at most BATCH): id, payload,
-- attempts so far, delivery limit, head, due. 'new' skips ids already queued or in flight (C2) and
-- repeats within the batch; 'retry' moves only ids that are in the failed
-- store. A fixed number of commands per batch. Returns {how many were
-- filed, reports...}.
--
-- Python checks what it sends; an entry that is still not one (empty id,
-- counts or head not digits, due time not a finite number) is not filed:
-- in 'new' mode it goes to the failed store with the reason, in 'retry'
-- mode it stays there, and the rest of the batch is filed as usual.
--
-- Key types. A plain enqueue (every entry new, well-formed and not in the
-- failed store: nearly every call) writes only tasks, state, seq and the
-- ready and/or delayed zset, and TYPE-ing all nine keys first was about a
-- fifth of its server time. So it proves each key it writes by a command
-- that would fail on a wrong type before anything is written: the reads of
-- tasks, failed and seq, one TYPE of state (and of delayed when a batch fills both
-- zsets), and its first write, the ZADD of the zset the tasks go to. Such a
-- failure gives the same "storage is damaged" error check_keys gives. Keys
-- it does not touch (leases, tokens, failed_at, the other zset) are left to
-- the scripts that use them, as ack and extend do. Every other enqueue
-- checks all the keys before it writes anything.
local retry = ARGV[1] == 'retry'
if (#ARGV - 1) % 6 ~= 0 then fail_script('enqueue takes six arguments per task') end

-- Run a command that comes before any write (a read, or the first write):
-- if it fails, nothing has been written; a key of the wrong type is then
-- reported as check_keys reports it, any other error is raised as it came.
local function first_call(command, key, ...)
  local reply = redis.pcall(command, key, ...)
  if type(reply) == 'table' and reply.err then
    check_keys(key)
    error(reply)
  end
  return reply
end

-- The entry whose id is ARGV[i]: its attempts, limit and due time, or nil
-- and what is wrong with it.
local function checked_entry(i)
  local attempts, limit, due = count(ARGV[i + 2]), count(ARGV[i + 3]), finite(ARGV[i + 5])
  if ARGV[i] == '' then
    return nil, 'empty task id'
  elseif not attempts or not limit then
    return nil, 'attempts or delivery limit is not a count of up to ' .. MAX_COUNT_DIGITS .. ' digits'
  elseif not string.find(ARGV[i + 4], HEAD_PATTERN) then
    return nil, 'priority and time do not form an ordering key'
  elseif not due then
    return nil, 'due time is not a finite number'
  end
  return attempts, limit, due
end

-- The sequence number the ordering keys continue from (INCRBY adds them
-- when they are written), checked before anything is written.
local function current_seq()
  local seq = first_call('GET', K_SEQ)
  if seq and (not string.find(seq, '^%d+$') or #seq > 15) then
    fail_script('key ' .. K_SEQ .. ' is not a sequence number: the queue storage is damaged')
  end
  return tonumber(seq or '0')
end

local now = server_now()

-- One new task (task.enqueue, nearly every call): the batch steps below for
-- a batch of one, without their bookkeeping tables, which cost a tenth to
-- a fifth of the script's server time. Anything else about it (a duplicate, an id in the
-- failed store, a malformed entry) is left to the batch steps.
if not retry and #ARGV == 7 then
  local id = ARGV[2]
  local attempts, limit, due = checked_entry(2)
  if attempts and not first_call('HGET', K_TASKS, id) and not first_call('HGET', K_FAILED, id) then
    local ordkey = ARGV[6] .. string.format('%016d', current_seq() + 1) .. id
    -- check_keys(K_STATE), without its loop for the usual answer.
    local kind = redis.call('TYPE', K_STATE)['ok']
    if kind ~= 'hash' and kind ~= 'none' then check_keys(K_STATE) end
    if due <= now then
      first_call('ZADD', K_READY, 0, ordkey)
    else
      first_call('ZADD', K_DELAYED, due, ordkey)
    end
    redis.call('INCR', K_SEQ)
    redis.call('HSET', K_TASKS, id, ARGV[3])
    redis.call('HSET', K_STATE, id, attempts .. ':' .. limit .. ':' .. ordkey)
    if due <= now then wake() else wake(due - now) end
    return with_reports(1)
  end
end

-- Read and check.
local ids = {}
for i = 2, #ARGV, 6 do
  ids[#ids + 1] = ARGV[i]
end
if #ids == 0 then
  check_keys()
  return with_reports(0)
end
local known = first_call('HMGET', K_TASKS, unpack(ids))
local failed = first_call('HMGET', K_FAILED, unpack(ids))
local filing, failing, seen = {}, {}, {}
for j, id in ipairs(ids) do
  if not known[j] and not seen[id] and (failed[j] or not retry) then
    seen[id] = true
    local i = 2 + (j - 1) * 6
    -- On a malformed entry, the second value is what is wrong with it.
    local attempts, problem, due = checked_entry(i)
    if attempts then
      filing[#filing + 1] = {id, ARGV[i + 1], attempts, problem, ARGV[i + 4], due, failed[j]}
    elseif id == '' then
      report('removed', id, 'cannot be enqueued: ' .. problem)
    elseif retry then
      report('removed', id, 'cannot be retried (left in the failed store): ' .. problem)
    else
      failing[#failing + 1] = {id, {error = 'cannot be enqueued: ' .. problem, reason = 'malformed'}, ARGV[i + 1]}
      report('failed', id, 'cannot be enqueued: ' .. problem)
    end
  end
end

local seq = current_seq()
local ready, delayed, payloads, states, unfailed = {}, {}, {}, {}, {}
local soonest
for _, entry in ipairs(filing) do
  local id, due = entry[1], entry[6]
  seq = seq + 1
  local ordkey = entry[5] .. string.format('%016d', seq) .. id
  if due <= now then
    ready[#ready + 1] = 0
    ready[#ready + 1] = ordkey
  else
    delayed[#delayed + 1] = due
    delayed[#delayed + 1] = ordkey
    if not soonest or due < soonest then soonest = due end
  end
  payloads[#payloads + 1] = id
  payloads[#payloads + 1] = entry[2]
  states[#states + 1] = id
  states[#states + 1] = entry[3] .. ':' .. entry[4] .. ':' .. ordkey
  if entry[7] then unfailed[#unfailed + 1] = id end
end
if not retry and #failing == 0 and #filing > 0 and #unfailed == 0 then
  check_keys(K_STATE)
  if #ready > 0 and #delayed > 0 then check_keys(K_DELAYED) end
else
  check_keys()
end

-- Write. In a plain enqueue the first ZADD is the first write.
for _, entry in ipairs(failing) do
  file_failed(entry[1], now, entry[2], entry[3], 0)
end
if #filing == 0 then return with_reports(0) end
if #ready > 0 then first_call('ZADD', K_READY, unpack(ready)) end
if #delayed > 0 then first_call('ZADD', K_DELAYED, unpack(delayed)) end
redis.call('INCRBY', K_SEQ, #filing)
redis.call('HSET', K_TASKS, unpack(payloads))
redis.call('HSET', K_STATE, unpack(states))
if #unfailed > 0 then
  redis.call('HDEL', K_FAILED, unpack(unfailed))
  redis.call('ZREM', K_FAILED_AT, unpack(unfailed))
end
if #ready > 0 then wake() elseif soonest then wake(soonest - now) end
return with_reports(#filing)
