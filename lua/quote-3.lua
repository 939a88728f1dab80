--[[
  What one unit of a product costs if ordered now, and how many can be bought: the
  live sale's price and remaining units while a sale runs, else the product's price
  and stock outside sales. The cart prices its lines with it.

  KEYS[1] {p:ID}:info    product price and currency (absent: not orderable)
  KEYS[2] {p:ID}:avail   units sellable outside a flash sale
  KEYS[3] {p:ID}:sales   the product's open flash-sale ids

  ARGV[1] the product's key prefix {p:ID}

  Returns {unitPriceCents, currency, available, liveSaleId or '', saleState or ''},
  or {} when the product has no counters.
]]
-- @include now-ms
-- @include find-sale
local info = redis.call('HMGET', KEYS[1], 'price', 'cur')
if not info[1] then return {} end
local saleId, sale = findSale(ARGV[1], KEYS[3], nowMs())
if saleId then return {tonumber(sale[6]), info[2], tonumber(sale[4]), saleId, sale[1]} end
return {tonumber(info[1]), info[2], tonumber(redis.call('GET', KEYS[2]) or '0'), '', ''}
