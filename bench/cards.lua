-- Card n (n = 0, 1, 2, …) → a distinct ML Engineer report card that costs the
-- same to render as the real one: only the percentages and the level vary
-- (101 × 101 × 4 = 40,804 cards), then a number is appended to the role.
-- Mirrors card_path() in client.py. Loaded by the other wrk scripts with
-- dofile(os.getenv("BENCH_DIR") .. "/cards.lua").
local TAGLINE = "AI%20helps%20build%20AI.%20But%20someone%20has%20to%20build%20the%20AI%20that%20builds%20AI."
local LEVELS = { "stable", "elevated", "high", "critical" }

ML_CARD = "/cards/report.png?role=ML%20Engineer&tagline=" .. TAGLINE
  .. "&risk=48&threat=Model%20Fine-Tuning&threat_risk=65"

function card_path(n)
  local risk = n % 101
  local threat_risk = math.floor(n / 101) % 101
  local level = LEVELS[math.floor(n / 10201) % 4 + 1]
  local extra = math.floor(n / 40804)
  local role = "ML%20Engineer"
  -- risk 48 / elevated / 65 is the ML card itself, which tests keep hot.
  if extra > 0 or (risk == 48 and threat_risk == 65 and level == "elevated") then
    role = role .. "%20" .. string.format("%d", extra + 1)
  end
  return string.format(
    "/cards/report.png?role=%s&tagline=%s&risk=%d&level=%s&threat=Model%%20Fine-Tuning&threat_risk=%d",
    role, TAGLINE, risk, level, threat_risk)
end

-- Card n of the mixed stream: every template × scale × theme in turn
-- (18 kinds), each a distinct card of its kind; every other round of 18
-- has emoji in its role and tagline (drawn in pieces, by usvg), and with
-- WEBP=1 every other pair of rounds is WebP. Mirrors mixed_path() in
-- client.py.
local TEMPLATES = { "report", "square", "story" }
local THEMES = { "dark", "light" }
function mixed_path(n)
  local template = TEMPLATES[n % 3 + 1]
  local scale = math.floor(n / 3) % 3 + 1
  local theme = THEMES[math.floor(n / 9) % 2 + 1]
  local base = (card_path_plain or card_path)(math.floor(n / 18))
  if math.floor(n / 18) % 2 == 1 then
    base = string.gsub(base, "role=ML%%20Engineer", "role=ML%%20Engineer%%20%%F0%%9F%%9A%%80", 1)
    base = string.gsub(base, "&risk=", "%%20%%F0%%9F%%91%%A9%%E2%%80%%8D%%F0%%9F%%92%%BB&risk=", 1)
  end
  -- WEBP=1: every other pair of rounds asks for the card's .webp.
  local ext = ".png"
  if os.getenv("WEBP") == "1" and math.floor(n / 36) % 2 == 1 then ext = ".webp" end
  return string.gsub(base, "^/cards/report.png", "/cards/" .. template .. ext, 1)
    .. string.format("&scale=%d&theme=%s", scale, theme)
end

-- MIX (environment): "1" makes the scripts ask for mixed_path() cards.
if os.getenv("MIX") == "1" then
  card_path_plain = card_path
  card_path = mixed_path
end

-- Status counting shared by the scripts that define response().
statuses = {}
function count_status(status)
  statuses[status] = (statuses[status] or 0) + 1
end

-- Sums the per-thread `statuses` tables in done().
function total_statuses(threads)
  local total = {}
  for _, t in ipairs(threads) do
    for s, c in pairs(t:get("statuses")) do
      total[s] = (total[s] or 0) + c
    end
  end
  return total
end
