-- ARGV: id, token, 'requeue', payload, head, due
--    or id, token, 'fail', record (JSON object: error, traceback).
-- Gives a held task back to the queue or to the failed store (C8).
local now = server_now()
local id = ARGV[1]
if not held(id, ARGV[2], now) then return 0 end
release(id)
if ARGV[3] == 'requeue' then
  local attempts, limit = parse_state(redis.call('HGET', K_STATE, id))
  redis.call('HSET', K_TASKS, id, ARGV[4])
  local ordkey, ready = push(id, ARGV[5], tonumber(ARGV[6]), now)
  set_state(id, attempts, limit, ordkey)
  if ready then wake() end
else
  to_failed(id, now, cjson.decode(ARGV[4]))
end
return 1
