-- ARGV: 'list', offset, limit -> {id1, record1, ...} newest first
--    or 'range', min, max, offset, limit -> the same, failed between min and
--       max (score bounds: '-inf', '+inf', '123.5', exclusive '(123.5')
--    or 'count', min, max -> how many failed between min and max
--    or 'delete', id1, id2, ... -> how many were deleted.
check_keys(K_FAILED, K_FAILED_AT)
local function bound(raw)
  if raw == '-inf' or raw == '+inf' then return raw end
  local exclusive, number = string.match(raw, '^(%(?)(.+)$')
  if not finite(number) then fail_script('a failed-at bound is -inf, +inf or a number') end
  return exclusive .. number
end
local function records(ids)
  local out = {}
  for _, id in ipairs(ids) do
    out[#out + 1] = id
    out[#out + 1] = redis.call('HGET', K_FAILED, id) or ''
  end
  return out
end
if ARGV[1] == 'list' then
  local offset, limit = count(ARGV[2]), count(ARGV[3])
  if not offset or not limit then fail_script('list takes an offset and a limit') end
  if limit == 0 then return {} end
  return records(redis.call('ZREVRANGE', K_FAILED_AT, offset, offset + limit - 1))
end
if ARGV[1] == 'range' then
  local low, high = bound(ARGV[2]), bound(ARGV[3])
  local offset, limit = count(ARGV[4]), count(ARGV[5])
  if not offset or not limit then fail_script('range takes an offset and a limit') end
  if limit == 0 then return {} end
  return records(redis.call('ZREVRANGEBYSCORE', K_FAILED_AT, high, low, 'LIMIT', offset, limit))
end
if ARGV[1] == 'count' then
  return redis.call('ZCOUNT', K_FAILED_AT, bound(ARGV[2]), bound(ARGV[3]))
end
if ARGV[1] ~= 'delete' then fail_script("failed takes 'list' or 'delete'") end
local deleted = 0
for i = 2, #ARGV do
  deleted = deleted + redis.call('HDEL', K_FAILED, ARGV[i])
  redis.call('ZREM', K_FAILED_AT, ARGV[i])
end
return deleted
