-- ARGV: 'list', offset, limit -> {id1, record1, ...} newest first
--    or 'delete', id1, id2, ... -> how many were deleted.
if ARGV[1] == 'list' then
  local offset = tonumber(ARGV[2])
  local ids = redis.call('ZREVRANGE', K_FAILED_AT, offset, offset + tonumber(ARGV[3]) - 1)
  local out = {}
  for _, id in ipairs(ids) do
    out[#out + 1] = id
    out[#out + 1] = redis.call('HGET', K_FAILED, id) or ''
  end
  return out
end
local deleted = 0
for i = 2, #ARGV do
  deleted = deleted + redis.call('HDEL', K_FAILED, ARGV[i])
  redis.call('ZREM', K_FAILED_AT, ARGV[i])
end
return deleted
