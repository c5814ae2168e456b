-- ARGV: id, token, seconds. Returns the new deadline, or false if not held.
local now = server_now()
if not held(ARGV[1], ARGV[2], now) then return false end
local deadline = now + tonumber(ARGV[3])
redis.call('ZADD', K_LEASES, deadline, ARGV[1])
return tostring(deadline)
