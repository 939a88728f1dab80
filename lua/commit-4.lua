--[[
  The order writer claims a reservation for a persisted order: held or queued
  becomes committed, and its units leave the open-reservation count (they are now
  units of a live order in Postgres).

  KEYS[1] {p:ID}:res:ORDERID  the reservation record
  KEYS[2] {p:ID}:held         held reservations scored by deadline
  KEYS[3] {p:ID}:reserved     units in held or queued reservations
  KEYS[4] {p:ID}:info         the product's price and currency (absent: Redis lost its memory)

  ARGV[1] order id
  ARGV[2] seconds the committed record is kept (idempotent replay, later release)

  Returns 'live' (committed now or before), 'gone' (released or never held: the
  order must be recorded expired), or 'unready' (the product's counters are not in
  Redis: it lost its memory and the rebuild has not restored them yet; retry later).
]]
local rec = redis.call('HMGET', KEYS[1], 'st', 'q')
local st = rec[1]
if st == 'committed' then return 'live' end
if st ~= 'held' and st ~= 'queued' then
  if redis.call('EXISTS', KEYS[4]) == 0 then return 'unready' end
  return 'gone'
end
redis.call('HSET', KEYS[1], 'st', 'committed')
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('DECRBY', KEYS[3], tonumber(rec[2]))
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
return 'live'
