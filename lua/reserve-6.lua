--[[
  Decide one product line of an order, atomically: sale window, stock, per-user
  limit, idempotency, and a held reservation with a deadline.

  KEYS[1] {p:ID}:info         product price and currency (absent: unknown product)
  KEYS[2] {p:ID}:avail        units sellable outside a flash sale
  KEYS[3] {p:ID}:reserved     units in held or queued reservations
  KEYS[4] {p:ID}:sales        the product's open flash-sale ids
  KEYS[5] {p:ID}:res:ORDERID  this order's reservation record
  KEYS[6] {p:ID}:held         held reservations scored by deadline (ms)

  ARGV[1] the product's key prefix {p:ID} (sale keys are {p:ID}:sale:SID[:buyers])
  ARGV[2] order id
  ARGV[3] buyer's user id
  ARGV[4] quantity (> 0)
  ARGV[5] request fingerprint (the same order id with another body is 'reused')
  ARGV[6] hold in ms: a held reservation not queued by then is released by the reconciler
  ARGV[7] seconds a refusal is remembered, for idempotent replay

  Returns
    {'ok', saleId, unitPriceCents, currency}          new reservation, state held
    {'dup', state, saleId, unitPriceCents, currency, reason}
                                                      this request was decided before
    {'reused'}                                        the order id was used for another request
    {'refused', code, detail}                         code: unknown-product | sold-out |
                                                      limit-exceeded | sale-paused | sale-not-started
]]
-- @include now-ms
-- @include find-sale

local prefix, orderId, userId = ARGV[1], ARGV[2], ARGV[3]
local qty = tonumber(ARGV[4])
local fingerprint = ARGV[5]

local rec = redis.call('HMGET', KEYS[5], 'st', 'h', 's', 'p', 'c', 'why', 'd')
if rec[1] then
  -- '*': a record restored by the counter rebuild, whose request fingerprint is unknown
  if rec[2] ~= fingerprint and rec[2] ~= '*' then return {'reused'} end
  if rec[1] == 'refused' then return {'refused', rec[6], rec[7]} end
  -- A release that proves the order never existed lets a retry decide afresh.
  local retryable = rec[1] == 'released' and (rec[6] == 'produce-failed' or rec[6] == 'compensated')
  if not retryable then return {'dup', rec[1], rec[3], rec[4], rec[5], rec[6] or ''} end
  redis.call('DEL', KEYS[5])
end

local info = redis.call('HMGET', KEYS[1], 'price', 'cur')
if not info[1] then return {'refused', 'unknown-product', ''} end

local function refuse(code, detail)
  redis.call('HSET', KEYS[5], 'st', 'refused', 'h', fingerprint, 'why', code, 'd', detail)
  redis.call('EXPIRE', KEYS[5], tonumber(ARGV[7]))
  return {'refused', code, detail}
end

local now = nowMs()
local saleId, sale, upcoming = findSale(prefix, KEYS[4], now)
local price = info[1]
if saleId then
  if sale[1] == 'paused' then return refuse('sale-paused', '') end
  if tonumber(sale[4]) < qty then return refuse('sold-out', '') end
  local buyersKey = prefix .. ':sale:' .. saleId .. ':buyers'
  local bought = tonumber(redis.call('HGET', buyersKey, userId) or '0')
  if bought + qty > tonumber(sale[5]) then return refuse('limit-exceeded', sale[5]) end
  redis.call('HINCRBY', prefix .. ':sale:' .. saleId, 'remaining', -qty)
  redis.call('HINCRBY', buyersKey, userId, qty)
  price = sale[6]
else
  local avail = tonumber(redis.call('GET', KEYS[2]) or '0')
  if avail < qty then
    if upcoming then return refuse('sale-not-started', tostring(upcoming)) end
    return refuse('sold-out', '')
  end
  redis.call('DECRBY', KEYS[2], qty)
  saleId = ''
end

local deadline = now + tonumber(ARGV[6])
redis.call('INCRBY', KEYS[3], qty)
redis.call('HSET', KEYS[5], 'st', 'held', 'q', qty, 'u', userId, 's', saleId, 'p', price,
  'c', info[2], 'h', fingerprint, 'dl', deadline)
redis.call('ZADD', KEYS[6], deadline, orderId)
return {'ok', saleId, price, info[2]}
