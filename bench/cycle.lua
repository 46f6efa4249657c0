-- Hits over N cached cards: card_path(OFFSET .. OFFSET+N-1), round robin,
-- each thread starting at a different card. Requests are built in init(),
-- so the script costs wrk little; no response() (wrk then skips parsing
-- bodies). Usage: wrk -s cycle.lua URL -- OFFSET N
dofile(os.getenv("BENCH_DIR") .. "/cards.lua")

local count = 0
function setup(thread)
  thread:set("id", count)
  count = count + 1
end

function init(args)
  local offset = tonumber(args[1])
  n = tonumber(args[2])
  reqs = {}
  for i = 0, n - 1 do
    reqs[i + 1] = wrk.format("GET", card_path(offset + i))
  end
  k = (id * 7919) % n
end

function request()
  k = k + 1
  if k > n then k = 1 end
  return reqs[k]
end
