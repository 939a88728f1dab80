--[[
  Set a flash sale's units aside from the product's stock and open the sale.

  KEYS[1] {p:ID}:avail   units sellable outside a flash sale
  KEYS[2] {p:ID}:sales   the product's open flash-sale ids

  ARGV[1] the product's key prefix {p:ID}
  ARGV[2] flash sale id
  ARGV[3] quantity
  ARGV[4] per-user limit
  ARGV[5] sale price in minor units
  ARGV[6] starts at (ms since epoch)
  ARGV[7] ends at (ms since epoch)

  Returns {'ok'} or {'insufficient', availableUnits}.
]]
local qty = tonumber(ARGV[3])
local avail = tonumber(redis.call('GET', KEYS[1]) or '0')
if avail < qty then return {'insufficient', avail} end
redis.call('DECRBY', KEYS[1], qty)
redis.call('HSET', ARGV[1] .. ':sale:' .. ARGV[2], 'state', 'live', 'closed', '0', 'remaining', qty,
  'limit', ARGV[4], 'price', ARGV[5], 'start', ARGV[6], 'end', ARGV[7])
redis.call('SADD', KEYS[2], ARGV[2])
return {'ok'}
