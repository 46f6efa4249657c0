-- Paced mixed load for bench/soak.sh: each thread sends requests at a fixed
-- rate (wrk's delay() hook with a monotonic clock through LuaJIT's ffi, so
-- the offered rate does not fall when the server slows down, as long as
-- connections are free); a fixed share of them are new cards (misses), the
-- rest cycle over HOT_N cached cards (hits).
-- Usage: wrk -tT -cC -s soak.lua URL -- MISS_OFFSET MISS_PER_S HIT_PER_S HOT_OFFSET HOT_N T
-- Prints STATUS/KIND lines and latency percentiles (all responses) in done().
dofile(os.getenv("BENCH_DIR") .. "/cards.lua")
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } soak_timespec;
int clock_gettime(int clk_id, soak_timespec *tp);
]]
local ts = ffi.new("soak_timespec")
local function now()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end

local threads = {}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  miss_offset = tonumber(args[1])
  local miss_rate, hit_rate = tonumber(args[2]), tonumber(args[3])
  local hot_offset, hot_n = tonumber(args[4]), tonumber(args[5])
  nthreads = tonumber(args[6])
  interval = nthreads / (miss_rate + hit_rate)
  miss_share = miss_rate / (miss_rate + hit_rate)
  hot = {}
  for i = 0, hot_n - 1 do
    hot[i + 1] = wrk.format("GET", card_path(hot_offset + i))
  end
  acc, k, h = 0, 0, id
  misses_sent, hits_sent = 0, 0
  kinds = {}
end

function delay()
  local t = now()
  if next_t == nil or next_t < t then next_t = t end -- no catch-up bursts
  local wait = next_t - t
  next_t = next_t + interval
  return math.floor(wait * 1000 + 0.5)
end

function request()
  acc = acc + miss_share
  if acc >= 1 then
    acc = acc - 1
    local n = miss_offset + id + k * nthreads
    k = k + 1
    misses_sent = misses_sent + 1
    return wrk.format("GET", card_path(n))
  end
  h = h + 1
  hits_sent = hits_sent + 1
  return hot[h % #hot + 1]
end

function response(status, headers, body)
  count_status(status)
  if status == 503 then
    local code = string.match(body or "", '"code"%s*:%s*"([%w_]+)"') or "?"
    kinds[code] = (kinds[code] or 0) + 1
  end
end

function done(summary, latency, requests)
  for s, c in pairs(total_statuses(threads)) do
    io.write(string.format("STATUS %d %d\n", s, c))
  end
  local kinds_all, m, hs = {}, 0, 0
  for _, t in ipairs(threads) do
    for code, c in pairs(t:get("kinds")) do kinds_all[code] = (kinds_all[code] or 0) + c end
    m = m + (t:get("misses_sent") or 0)
    hs = hs + (t:get("hits_sent") or 0)
  end
  for code, c in pairs(kinds_all) do io.write(string.format("KIND503 %s %d\n", code, c)) end
  io.write(string.format("SENT_MISSES %d\nSENT_HITS %d\n", m, hs))
  io.write(string.format("DURATION_S %.3f\n", summary.duration / 1e6))
  local e = summary.errors
  io.write(string.format("SOCKET_ERRORS %d %d %d %d\n", e.connect, e.read, e.write, e.timeout))
  for _, p in ipairs({ 50, 90, 99, 99.9 }) do
    io.write(string.format("LATENCY_MS %s %.2f\n", p, latency:percentile(p) / 1000))
  end
  io.write(string.format("LATENCY_MS max %.2f\n", latency.max / 1000))
end
