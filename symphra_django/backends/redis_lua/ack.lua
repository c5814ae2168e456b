-- ARGV: id1, token1, id2, token2, ... Ends the live leases among them.
-- Returns how many were still held.
local now = server_now()
local done = 0
for i = 1, #ARGV, 2 do
  local id = ARGV[i]
  if held(id, ARGV[i + 1], now) then
    release(id)
    redis.call('HDEL', K_TASKS, id)
    redis.call('HDEL', K_STATE, id)
    done = done + 1
  end
end
return done
