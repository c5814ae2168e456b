-- Removes every pending and in-flight task of the queue, not its failed
-- store (C11). Returns how many were removed. Whatever the keys hold (this
-- is also the way out for a queue whose keys were overwritten).
local count = 0
if redis.call('TYPE', K_TASKS)['ok'] == 'hash' then
  count = redis.call('HLEN', K_TASKS)
end
redis.call('DEL', K_TASKS, K_STATE, K_READY, K_DELAYED, K_LEASES, K_TOKENS)
return count
