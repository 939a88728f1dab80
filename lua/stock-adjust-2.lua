--[[
  Move a product's stock outside sales by an inventory adjustment, atomically: a
  restock is sellable at once; a removal takes only units nobody holds (never units
  set aside for a sale or reserved by an order).

  KEYS[1] {p:ID}:avail   units sellable outside a flash sale
  KEYS[2] {p:ID}:info    product price and currency (absent: counters not loaded)

  ARGV[1] delta (nonzero integer)

  Returns {'ok', availAfter}, {'insufficient', availNow} when a removal exceeds the
  units sellable outside sales, or {'unknown'} when the product has no counters.
]]
if redis.call('EXISTS', KEYS[2]) == 0 then return {'unknown'} end
local delta = tonumber(ARGV[1])
local avail = tonumber(redis.call('GET', KEYS[1]) or '0')
if avail + delta < 0 then return {'insufficient', avail} end
return {'ok', redis.call('INCRBY', KEYS[1], delta)}
