--[[
  Close a flash sale whose window has passed (or that was ended early): its unsold
  units go back to the product's stock; units still reserved follow their orders.

  KEYS[1] {p:ID}:avail   units sellable outside a flash sale
  KEYS[2] {p:ID}:sales   the product's open flash-sale ids

  ARGV[1] the product's key prefix {p:ID}
  ARGV[2] flash sale id

  Returns the number of units given back, or -1 when the sale is still running.
]]
-- @include now-ms
local saleKey = ARGV[1] .. ':sale:' .. ARGV[2]
local s = redis.call('HMGET', saleKey, 'state', 'end', 'remaining', 'closed')
if not s[1] or s[4] == '1' then
  redis.call('SREM', KEYS[2], ARGV[2])
  return 0
end
if s[1] ~= 'ended' and nowMs() < tonumber(s[2]) then return -1 end
local units = tonumber(s[3])
redis.call('INCRBY', KEYS[1], units)
redis.call('HSET', saleKey, 'state', 'ended', 'closed', '1', 'remaining', 0)
redis.call('SREM', KEYS[2], ARGV[2])
return units
