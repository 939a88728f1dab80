--[[
  Give a reservation's units back: to its flash sale while that sale is still open,
  else to the product's stock; the buyer's per-sale count goes back too.

  KEYS[1] {p:ID}:res:ORDERID  the reservation record
  KEYS[2] {p:ID}:held         held reservations scored by deadline
  KEYS[3] {p:ID}:reserved     units in held or queued reservations
  KEYS[4] {p:ID}:avail        units sellable outside a flash sale

  ARGV[1] the product's key prefix {p:ID}
  ARGV[2] order id
  ARGV[3] reason (produce-failed | compensated | expired | ...)
  ARGV[4] states that may be released, comma-separated (the reconciler passes only 'held')
  ARGV[5] seconds the released record is kept, for idempotent replay
  ARGV[6] optional, with ARGV[7] and ARGV[8]: the line's quantity as Postgres records it,
          released when the record itself is gone (a committed record expires after its
          TTL) and 'missing' is among the states of ARGV[4]
  ARGV[7] the line's flash sale id, or ''
  ARGV[8] the buyer's id

  Returns {'released', 'sale' | 'stock'} or {stateFound} when nothing was done
  (state not allowed, or 'missing').
]]
local rec = redis.call('HMGET', KEYS[1], 'st', 'q', 's', 'u')
local st = rec[1] or 'missing'
if not string.find(',' .. ARGV[4] .. ',', ',' .. st .. ',', 1, true) or (st == 'missing' and not ARGV[6]) then
  return {st}
end
local qty, saleId, userId = tonumber(rec[2]), rec[3], rec[4]
if st == 'missing' then qty, saleId, userId = tonumber(ARGV[6]), ARGV[7], ARGV[8] end
if st == 'held' or st == 'queued' then redis.call('DECRBY', KEYS[3], qty) end
redis.call('ZREM', KEYS[2], ARGV[2])

local to = 'stock'
if saleId ~= '' then
  local saleKey = ARGV[1] .. ':sale:' .. saleId
  if redis.call('HINCRBY', saleKey .. ':buyers', userId, -qty) <= 0 then
    redis.call('HDEL', saleKey .. ':buyers', userId)
  end
  if redis.call('HGET', saleKey, 'closed') == '0' then
    redis.call('HINCRBY', saleKey, 'remaining', qty)
    to = 'sale'
  end
end
if to == 'stock' then redis.call('INCRBY', KEYS[4], qty) end
redis.call('HSET', KEYS[1], 'st', 'released', 'why', ARGV[3])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[5]))
return {'released', to}
