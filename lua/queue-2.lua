--[[
  Mark a held reservation queued: Kafka acknowledged its order, so the order exists
  and the reconciler must never release it, however far the writer lags.

  KEYS[1] {p:ID}:res:ORDERID  the reservation record
  KEYS[2] {p:ID}:held         held reservations scored by deadline

  ARGV[1] order id

  Returns the state after the call: 'queued' when it was held; otherwise the state
  found ('queued', 'committed', 'released', ...) or 'missing'.
]]
local st = redis.call('HGET', KEYS[1], 'st')
if st == 'held' then
  redis.call('HSET', KEYS[1], 'st', 'queued')
  redis.call('ZREM', KEYS[2], ARGV[1])
  return 'queued'
end
return st or 'missing'
