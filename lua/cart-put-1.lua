--[[
  Store a user's cart copy unless the copy already there is newer. Versions come from
  one Postgres sequence, so concurrent writers and readers that refill the copy after
  a miss can never put an older cart over a newer one.

  KEYS[1] cart:USERID    hash {v = version, id = cartId or '', lines = JSON}

  ARGV[1] version
  ARGV[2] cart id ('' when the user has no open cart)
  ARGV[3] lines as JSON
  ARGV[4] seconds to keep the copy

  Returns 1 when stored, 0 when a newer (or the same) version is there.
]]
local current = tonumber(redis.call('HGET', KEYS[1], 'v') or '-1')
if current >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'id', ARGV[2], 'lines', ARGV[3])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
return 1
