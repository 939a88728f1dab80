-- The Redis server's clock in milliseconds, so every edge and worker agrees on "now".
local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
