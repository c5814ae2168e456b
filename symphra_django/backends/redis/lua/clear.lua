-- Removes every pending and in-flight task of the queue, not its failed
-- store (C11). Returns how many were removed.
local count = redis.call('HLEN', K_TASKS)
redis.call('DEL', K_TASKS, K_STATE, K_READY, K_DELAYED, K_LEASES, K_TOKENS)
return count
