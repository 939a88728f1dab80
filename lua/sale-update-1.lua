--[[
  Change a flash sale while it is open: pause, resume, end early, or add units taken
  from the product's stock outside sales. Ending only marks the sale ended; the caller
  then runs sale-close, which gives the unsold units back to stock.

  KEYS[1] {p:ID}:avail   units sellable outside a flash sale

  ARGV[1] the product's key prefix {p:ID}
  ARGV[2] flash sale id
  ARGV[3] operation: pause | resume | end | grow
  ARGV[4] units to add (grow only)

  Returns {'ok', remaining, state}; {'missing'} when the sale has no counters (not
  opened on this product); {'ended', remaining} when it is closed or its window has passed
  (except for 'end', which marks it ended anyway); {'insufficient', availNow} when
  stock outside sales is short of the units to add.
]]
-- @include now-ms
local saleKey = ARGV[1] .. ':sale:' .. ARGV[2]
local op = ARGV[3]
local s = redis.call('HMGET', saleKey, 'state', 'end', 'remaining', 'closed')
if not s[1] then return {'missing'} end
local remaining = tonumber(s[3])
if s[4] == '1' then return {'ended', remaining} end
if op == 'end' then
  redis.call('HSET', saleKey, 'state', 'ended')
  return {'ok', remaining, 'ended'}
end
if s[1] == 'ended' or nowMs() >= tonumber(s[2]) then return {'ended', remaining} end
if op == 'pause' then
  redis.call('HSET', saleKey, 'state', 'paused')
  return {'ok', remaining, 'paused'}
elseif op == 'resume' then
  redis.call('HSET', saleKey, 'state', 'live')
  return {'ok', remaining, 'live'}
end
local units = tonumber(ARGV[4])
local avail = tonumber(redis.call('GET', KEYS[1]) or '0')
if avail < units then return {'insufficient', avail} end
redis.call('DECRBY', KEYS[1], units)
return {'ok', redis.call('HINCRBY', saleKey, 'remaining', units), s[1]}
