-- Applies one tracking signal to the rec:* keys, atomically with the consumer position, so a
-- message redelivered after a restart (at or below the stored offset) changes nothing.
--
-- KEYS: 1 offsets hash, 2 rec:popular, 3 rec:trending, 4 trending epoch, 5 actor's recent list,
--       6 item weights hash, 7 user's bought zset, 8 rec:user:{id}:personalized,
--       9 rec:user:{id}:gen (incremented when a user's keys change: the gateway's cached
--       recommendations for that user are then recomputed)
-- ARGV: 1 offset field (topic:partition), 2 offset, 3 key prefix, 4 event time (unix s),
--       5 popularity weight per unit, 6 pair weight (with recent items), 7 basket weight
--       (between items of one order), 8 is a signed-in user (1/0), 9 is a purchase (1/0),
--       10 recent_len, 11 similar_len, 12 cooccurrence_len, 13 popular_len, 14 trending_len,
--       15 personalized_len, 16 trending half-life (s), 17 user ttl (s), 18 neighbours,
--       19 personalized sources, 20.. product id, quantity, product id, quantity, ...
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur and tonumber(cur) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])

local prefix = ARGV[3]
local now = tonumber(ARGV[4])
local w_pop = tonumber(ARGV[5])
local w_pair = tonumber(ARGV[6])
local w_basket = tonumber(ARGV[7])
local is_user = ARGV[8] == '1'
local is_purchase = ARGV[9] == '1'
local recent_len = tonumber(ARGV[10])
local similar_len = tonumber(ARGV[11])
local cooc_len = tonumber(ARGV[12])
local popular_len = tonumber(ARGV[13])
local trending_len = tonumber(ARGV[14])
local personal_len = tonumber(ARGV[15])
local half_life = tonumber(ARGV[16])
local ttl = tonumber(ARGV[17])
local fanout = tonumber(ARGV[18])
local sources = tonumber(ARGV[19])
local items, qty = {}, {}
for i = 20, #ARGV, 2 do
  items[#items + 1] = ARGV[i]
  qty[#qty + 1] = tonumber(ARGV[i + 1])
end

local function trim(key, keep)
  redis.call('ZREMRANGEBYRANK', key, 0, -(keep + 1))
end
local function similar_key(id)
  return prefix .. 'rec:product:' .. id .. ':similar'
end
local function cooc_key(id)
  return prefix .. 'recommender:cooc:' .. id
end

-- Trending: a signal at time t weighs 2^((t - epoch) / half_life), so older ones decay
-- relative to newer ones without rewriting the set; the epoch moves (and the set is rescaled
-- once) before the weights grow too large for a double.
local epoch = tonumber(redis.call('GET', KEYS[4]))
if not epoch then
  epoch = now
  redis.call('SET', KEYS[4], string.format('%.3f', epoch))
end
local exponent = (now - epoch) / half_life
if exponent > 64 then
  local shift = math.floor(exponent)
  if redis.call('EXISTS', KEYS[3]) == 1 then
    redis.call('ZUNIONSTORE', KEYS[3], 1, KEYS[3], 'WEIGHTS', string.format('%.17g', 2 ^ (-shift)))
  end
  epoch = epoch + shift * half_life
  redis.call('SET', KEYS[4], string.format('%.3f', epoch))
  exponent = (now - epoch) / half_life
end
local boost = 2 ^ exponent

for i, id in ipairs(items) do
  local w = w_pop * qty[i]
  redis.call('ZINCRBY', KEYS[2], w, id)
  redis.call('ZINCRBY', KEYS[3], w * boost, id)
  redis.call('HINCRBYFLOAT', KEYS[6], id, w)
end
trim(KEYS[2], popular_len)
trim(KEYS[3], trending_len)

-- Item-to-item: raw co-occurrence, normalised by the items' weights (cosine).
local touched = {}
local function bump(a, b, w)
  if a == b then
    return
  end
  local c = tonumber(redis.call('ZINCRBY', cooc_key(a), w, b))
  redis.call('ZINCRBY', cooc_key(b), w, a)
  local na = tonumber(redis.call('HGET', KEYS[6], a)) or 1
  local nb = tonumber(redis.call('HGET', KEYS[6], b)) or 1
  local s = c / math.sqrt(na * nb)
  redis.call('ZADD', similar_key(a), s, b)
  redis.call('ZADD', similar_key(b), s, a)
  touched[a] = true
  touched[b] = true
end

local recent = redis.call('LRANGE', KEYS[5], 0, recent_len - 1)
for _, id in ipairs(items) do
  for _, r in ipairs(recent) do
    bump(id, r, w_pair)
  end
end
if is_purchase then
  for i = 1, #items do
    for j = i + 1, #items do
      bump(items[i], items[j], w_basket)
    end
  end
end
for id, _ in pairs(touched) do
  trim(cooc_key(id), cooc_len)
  trim(similar_key(id), similar_len)
end
for _, id in ipairs(items) do
  redis.call('LREM', KEYS[5], 0, id)
  redis.call('LPUSH', KEYS[5], id)
end
redis.call('LTRIM', KEYS[5], 0, recent_len - 1)
redis.call('EXPIRE', KEYS[5], ttl)

-- Personalized: neighbours of the user's recent items (more recent counts more), without
-- what the user bought or has just looked at.
if is_user then
  if is_purchase then
    for _, id in ipairs(items) do
      redis.call('ZADD', KEYS[7], now, id)
    end
    trim(KEYS[7], 1000)
    redis.call('EXPIRE', KEYS[7], ttl)
  end
  local exclude = {}
  for _, id in ipairs(redis.call('ZRANGE', KEYS[7], 0, -1)) do
    exclude[id] = true
  end
  local mine = redis.call('LRANGE', KEYS[5], 0, -1)
  for _, id in ipairs(mine) do
    exclude[id] = true
  end
  local scores = {}
  for i = 1, math.min(sources, #mine) do
    local nb = redis.call('ZREVRANGE', similar_key(mine[i]), 0, fanout - 1, 'WITHSCORES')
    for j = 1, #nb, 2 do
      local q = nb[j]
      if not exclude[q] then
        scores[q] = (scores[q] or 0) + tonumber(nb[j + 1]) / i
      end
    end
  end
  redis.call('DEL', KEYS[8])
  local args = {}
  for q, s in pairs(scores) do
    args[#args + 1] = string.format('%.17g', s)
    args[#args + 1] = q
  end
  if #args > 0 then
    redis.call('ZADD', KEYS[8], unpack(args))
    trim(KEYS[8], personal_len)
    redis.call('EXPIRE', KEYS[8], ttl)
  end
  redis.call('INCR', KEYS[9])
  redis.call('EXPIRE', KEYS[9], ttl)
end
return 1
