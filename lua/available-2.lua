--[[
  What a shopper can buy of a product now: the live sale's remaining units while a
  sale runs, else the product's stock outside sales.

  KEYS[1] {p:ID}:avail   units sellable outside a flash sale
  KEYS[2] {p:ID}:sales   the product's open flash-sale ids

  ARGV[1] the product's key prefix {p:ID}

  Returns {available, liveSaleId or '', saleState or ''}.
]]
-- @include now-ms
-- @include find-sale
local saleId, sale = findSale(ARGV[1], KEYS[2], nowMs())
if saleId then return {tonumber(sale[4]), saleId, sale[1]} end
return {tonumber(redis.call('GET', KEYS[1]) or '0'), '', ''}
