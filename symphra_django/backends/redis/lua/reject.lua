-- ARGV: id, token, 'requeue', payload, head, due
--    or id, token, 'fail', record (JSON object: error, traceback).
-- Gives a held task back to the queue or to the failed store (C8).
-- Returns {1 if the lease was held (and so answered) else 0, reports...}.
-- A task that cannot be put back (its stored delivery state is malformed,
-- or the head or due time sent is not one) goes to the failed store with
-- the reason instead: an answer to a held lease never fails half-way.
check_keys()
local now = server_now()
local id, mode = ARGV[1], ARGV[3]
if mode ~= 'requeue' and mode ~= 'fail' then
  fail_script("reject takes 'requeue' or 'fail'")
end

-- Read and check.
if not held(id, ARGV[2], now) then return with_reports(0) end
-- On a malformed state, the second value is the reason.
local attempts, limit = parse_state(redis.call('HGET', K_STATE, id), id)
local due = finite(ARGV[6])
local problem, record, payload
if mode == 'requeue' then
  payload = ARGV[4]
  if not attempts then
    problem = 'malformed stored task: ' .. limit
  elseif not string.find(ARGV[5] or '', HEAD_PATTERN) then
    problem = 'cannot be put back for a retry: its priority and time do not form an ordering key'
  elseif not due then
    problem = 'cannot be put back for a retry: its due time is not a finite number'
  end
  if problem then
    record = {error = problem, reason = 'malformed'}
    report('failed', id, problem)
  end
else
  payload = redis.call('HGET', K_TASKS, id)
  local ok, decoded = pcall(cjson.decode, ARGV[4])
  if ok and type(decoded) == 'table' then
    record = decoded
  else
    record = {error = 'the failure record sent was not a JSON object'}
  end
end

-- Write.
release(id)
if record then
  file_failed(id, now, record, payload, attempts)
else
  redis.call('HSET', K_TASKS, id, payload)
  local ordkey, ready = push(id, ARGV[5], due, now)
  set_state(id, attempts, limit, ordkey)
  if ready then wake() else wake(due - now) end
end
return with_reports(1)
