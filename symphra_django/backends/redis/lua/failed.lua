-- ARGV: 'list', offset, limit -> {id1, record1, ...} newest first
--    or 'delete', id1, id2, ... -> how many were deleted.
check_keys(K_FAILED, K_FAILED_AT)
if ARGV[1] == 'list' then
  local offset, limit = count(ARGV[2]), count(ARGV[3])
  if not offset or not limit then fail_script('list takes an offset and a limit') end
  if limit == 0 then return {} end
  local ids = redis.call('ZREVRANGE', K_FAILED_AT, offset, offset + limit - 1)
  local out = {}
  for _, id in ipairs(ids) do
    out[#out + 1] = id
    out[#out + 1] = redis.call('HGET', K_FAILED, id) or ''
  end
  return out
end
if ARGV[1] ~= 'delete' then fail_script("failed takes 'list' or 'delete'") end
local deleted = 0
for i = 2, #ARGV do
  deleted = deleted + redis.call('HDEL', K_FAILED, ARGV[i])
  redis.call('ZREM', K_FAILED_AT, ARGV[i])
end
return deleted
