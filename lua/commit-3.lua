--[[
  The order writer claims reservations of one product for persisted orders, many in
  one call: held or queued becomes committed, and the units leave the open-reservation
  count (they are now units of live orders in Postgres).

  KEYS[1] {p:ID}:held         held reservations scored by deadline
  KEYS[2] {p:ID}:reserved     units in held or queued reservations
  KEYS[3] {p:ID}:info         the product's price and currency (absent: Redis lost its memory)

  ARGV[1] the product's key prefix {p:ID}; each record is {p:ID}:res:ORDERID, in the
          same hash slot as KEYS
  ARGV[2] seconds a committed record is kept (idempotent replay, later release)
  ARGV[3..] order ids

  Returns one outcome per order id, in order: 'live' (committed now or before),
  'gone' (released or never held: the order must be recorded expired), or 'unready'
  (the product's counters are not in Redis: it lost its memory and the rebuild has not
  restored them yet; retry later).
]]
local ttl = tonumber(ARGV[2])
local ready = redis.call('EXISTS', KEYS[3]) == 1
local outcomes = {}
local units = 0
for i = 3, #ARGV do
  local orderId = ARGV[i]
  local record = ARGV[1] .. ':res:' .. orderId
  local rec = redis.call('HMGET', record, 'st', 'q')
  local st = rec[1]
  if st == 'committed' then
    outcomes[#outcomes + 1] = 'live'
  elseif st == 'held' or st == 'queued' then
    redis.call('HSET', record, 'st', 'committed')
    redis.call('ZREM', KEYS[1], orderId)
    redis.call('EXPIRE', record, ttl)
    units = units + tonumber(rec[2])
    outcomes[#outcomes + 1] = 'live'
  elseif ready then
    outcomes[#outcomes + 1] = 'gone'
  else
    outcomes[#outcomes + 1] = 'unready'
  end
end
if units > 0 then redis.call('DECRBY', KEYS[2], units) end
return outcomes
