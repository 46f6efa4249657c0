-- Card paths for the wrk scripts, which load this file with
-- dofile(os.getenv("BENCH_DIR") .. "/cards.lua").
local TAGLINE = "AI%20helps%20build%20AI.%20But%20someone%20has%20to%20build%20the%20AI%20that%20builds%20AI."

ML_CARD = "/cards/report.png?role=ML%20Engineer&tagline=" .. TAGLINE
  .. "&risk=48&threat=Model%20Fine-Tuning&threat_risk=65"


-- The shapes of the cards people make (the first-hour report's mix): a role
-- that wraps to two lines, a four-line tagline, emoji, Arabic, and cards
-- with and without a tagline and threat. { role, tagline, threat }, encoded.
local SHAPES = {
  { "Senior%20Machine%20Learning%20Engineer",
    "AI%20helps%20build%20AI.%20But%20someone%20has%20to%20build%20the%20AI%20that%20builds%20AI.",
    "Model%20Fine-Tuning" }, -- Senior Machine Learning Engineer
  { "Registered%20Nurse",
    "Charting%2C%20scheduling%20and%20prior%20authorisations%20get%20automated%20first%3B%20bedside%20care%2C%20judgement%20and%20the%20patient%20in%20front%20of%20you%20do%20not%2C%20and%20the%20handover%20still%20needs%20someone%20who%20was%20there.",
    "Clinical%20Documentation" }, -- Registered Nurse
  { "Community%20Manager%20%F0%9F%9A%80",
    "Posts%20write%20themselves%20%F0%9F%A4%96%20but%20a%20community%20still%20needs%20a%20person%20%F0%9F%91%A9%E2%80%8D%F0%9F%92%BB%20who%20answers.",
    "Content%20Scheduling" }, -- Community Manager 🚀
  { "%D9%85%D9%87%D9%86%D8%AF%D8%B3%20%D8%AA%D8%B9%D9%84%D9%85%20%D8%A7%D9%84%D8%A2%D9%84%D8%A9",
    "%D8%A7%D9%84%D8%B0%D9%83%D8%A7%D8%A1%20%D8%A7%D9%84%D8%A7%D8%B5%D8%B7%D9%86%D8%A7%D8%B9%D9%8A%20%D9%8A%D8%B3%D8%A7%D8%B9%D8%AF%20%D9%81%D9%8A%20%D8%A8%D9%86%D8%A7%D8%A1%20%D8%A7%D9%84%D8%B0%D9%83%D8%A7%D8%A1%20%D8%A7%D9%84%D8%A7%D8%B5%D8%B7%D9%86%D8%A7%D8%B9%D9%8A%D8%8C%20%D9%84%D9%83%D9%86%20%D8%A3%D8%AD%D8%AF%D9%8B%D8%A7%20%D9%85%D8%A7%20%D9%8A%D8%AC%D8%A8%20%D8%A3%D9%86%20%D9%8A%D8%A8%D9%86%D9%8A%D9%87.",
    false }, -- مهندس تعلم الآلة
  { "Data%20Entry%20Clerk",
    false,
    false }, -- Data Entry Clerk
}

-- Card n (n = 0, 1, 2, …) → a distinct report card of shape n % 5, numbered
-- in its role (n // 5). Mirrors card_path() in client.py.
function card_path(n)
  local shape = SHAPES[n % 5 + 1]
  local path = string.format("/cards/report.png?role=%s%%20%d", shape[1], math.floor(n / 5))
  if shape[2] then path = path .. "&tagline=" .. shape[2] end
  path = path .. string.format("&risk=%d", n * 37 % 101)
  if shape[3] then
    path = path .. string.format("&threat=%s&threat_risk=%d", shape[3], n * 53 % 101)
  end
  return path
end

-- Card n of the tasks card: a role of every shape in turn, 3 to 6 of the
-- seed page's tasks, each with its own percentage. Mirrors tasks_path()
-- in client.py.
local TASKS = { "Data%20Preprocessing%20Pipelines", "ML%20Pipeline%20Code",
  "Model%20Serving%20%26%20Deployment", "Model%20Fine-Tuning",
  "Model%20Evaluation%20%26%20Testing", "Research%20Paper%20Implementation" }
function tasks_path(n)
  local path = string.format("/cards/tasks.png?role=%s%%20%d", SHAPES[n % 5 + 1][1], math.floor(n / 5))
  for i = 0, 2 + n % 4 do
    path = path .. string.format("&tasks.%d.name=%s&tasks.%d.risk=%d", i, TASKS[i + 1], i, (n * 37 + i * 11) % 101)
  end
  return path
end

-- Card n of the cost card: a role of every shape, its salaries. Mirrors
-- cost_path() in client.py.
function cost_path(n)
  return string.format("/cards/cost.png?role=%s%%20%d&region=USA&salary=%d&entry_salary=%d",
    SHAPES[n % 5 + 1][1], math.floor(n / 5), 60000 + n * 137 % 200000, 30000 + n * 71 % 90000)
end

-- Card n of the mixed stream: every template × scale × theme in turn
-- (30 kinds), each round of 30 a card_path() card (of every shape in
-- turn: emoji and Arabic among them) or, for tasks and cost, their own,
-- and with WEBP=1 every other pair of rounds is WebP. Mirrors
-- mixed_path() in client.py.
local TEMPLATES = { "report", "square", "story", "tasks", "cost" }
local THEMES = { "dark", "light" }
function mixed_path(n)
  local template = TEMPLATES[n % 5 + 1]
  local scale = math.floor(n / 5) % 3 + 1
  local theme = THEMES[math.floor(n / 15) % 2 + 1]
  local round = math.floor(n / 30)
  local base
  if template == "tasks" then base = tasks_path(round)
  elseif template == "cost" then base = cost_path(round)
  else base = string.gsub((card_path_plain or card_path)(round), "^/cards/report.png", "/cards/" .. template .. ".png", 1) end
  -- WEBP=1: every other pair of rounds asks for the card's .webp.
  if os.getenv("WEBP") == "1" and math.floor(n / 60) % 2 == 1 then
    base = string.gsub(base, "^(/cards/[a-z]+)%.png", "%1.webp", 1)
  end
  return base .. string.format("&scale=%d&theme=%s", scale, theme)
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
