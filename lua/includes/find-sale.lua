-- The sale that governs the product now, reading the sale hashes {p:ID}:sale:SID.
-- Returns liveId, liveFields (state, start, end, remaining, limit, price) and the
-- start (ms) of the next upcoming sale. A paused sale inside its window is "live".
local function findSale(prefix, salesKey, now)
  local liveId, live, upcoming
  for _, sid in ipairs(redis.call('SMEMBERS', salesKey)) do
    local s = redis.call('HMGET', prefix .. ':sale:' .. sid, 'state', 'start', 'end', 'remaining', 'limit', 'price')
    local startMs, endMs = tonumber(s[2]), tonumber(s[3])
    if s[1] and s[1] ~= 'ended' and now < endMs then
      if now >= startMs then
        liveId, live = sid, s
      elseif upcoming == nil or startMs < upcoming then
        upcoming = startMs
      end
    end
  end
  return liveId, live, upcoming
end
