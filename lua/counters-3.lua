--[[
  One consistent read of a product's hot counters, for the reconciler's drift check.

  KEYS[1] {p:ID}:avail     units sellable outside a flash sale
  KEYS[2] {p:ID}:reserved  units in held or queued reservations
  KEYS[3] {p:ID}:sales     the product's open flash-sale ids

  ARGV[1] the product's key prefix {p:ID}

  Returns {avail, reserved, unitsInOpenSales, infoPresent (1/0)}.
]]
local inSales = 0
for _, sid in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  inSales = inSales + tonumber(redis.call('HGET', ARGV[1] .. ':sale:' .. sid, 'remaining') or '0')
end
local present = redis.call('EXISTS', ARGV[1] .. ':info')
return {tonumber(redis.call('GET', KEYS[1]) or '0'), tonumber(redis.call('GET', KEYS[2]) or '0'), inSales, present}
