-- ARGV: id, token, seconds. Returns the new deadline, or false if not held.
check_keys(K_TOKENS, K_LEASES)
local seconds = finite(ARGV[3])
if not seconds then fail_script('extend takes a finite number of seconds') end
local now = server_now()
if not held(ARGV[1], ARGV[2], now) then return false end
local deadline = now + seconds
redis.call('ZADD', K_LEASES, deadline, ARGV[1])
return tostring(deadline)
