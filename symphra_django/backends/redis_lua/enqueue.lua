-- ARGV: mode ('new' or 'retry'), then per task: id, payload, limit, head, due.
-- 'new' skips ids already queued or in flight (C2); 'retry' moves only ids
-- that are in the failed store. Returns how many tasks were filed.
local now = server_now()
local retry = ARGV[1] == 'retry'
local filed = 0
local any_ready = false
for i = 2, #ARGV, 5 do
  local id = ARGV[i]
  local known = redis.call('HEXISTS', K_TASKS, id) == 1
  local failed = redis.call('HEXISTS', K_FAILED, id) == 1
  if not known and (failed or not retry) then
    local ordkey, ready = push(id, ARGV[i + 3], tonumber(ARGV[i + 4]), now)
    any_ready = any_ready or ready
    redis.call('HSET', K_TASKS, id, ARGV[i + 1])
    set_state(id, 0, ARGV[i + 2], ordkey)
    if failed then
      redis.call('HDEL', K_FAILED, id)
      redis.call('ZREM', K_FAILED_AT, id)
    end
    filed = filed + 1
  end
end
if any_ready then wake() end
return filed
