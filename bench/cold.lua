-- Every request is a new card: thread i of T asks for
-- card_path(OFFSET + i + k*T), k = 0, 1, 2, …
-- Usage: wrk -tT -s cold.lua URL -- OFFSET T
-- Prints "STATUS <code> <count>" lines and "END <n>" (one past the highest
-- card index requested) for the shell scripts.
dofile(os.getenv("BENCH_DIR") .. "/cards.lua")

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  offset = tonumber(args[1] or "0")
  nthreads = tonumber(args[2] or "1")
  k = 0
  last = -1
end

function request()
  local n = offset + id + k * nthreads
  k = k + 1
  last = n
  return wrk.format("GET", card_path(n))
end

function response(status, headers, body)
  count_status(status)
end

function done(summary, latency, requests)
  for s, c in pairs(total_statuses(threads)) do
    io.write(string.format("STATUS %d %d\n", s, c))
  end
  local last_all = -1
  for _, t in ipairs(threads) do
    local l = t:get("last") or -1
    if l > last_all then last_all = l end
  end
  io.write(string.format("END %d\n", last_all + 1))
end
