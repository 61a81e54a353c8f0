-- Hot reload: handlers rewritten while eddy run consumes a stream. Every
-- event is handled exactly once, by the old set or the new one; a broken
-- handler leaves the running set in place; a burst of writes is one reload.
local t = require "eddy_test"

-- A handler that records which version handled which offset, spending
-- about ms of CPU per event so that the stream lasts.
local function versioned(version, ms)
  return ([[
local clock = os.clock
return {
  subscribe = { topics = { "TOPIC" } },
  on_event = function(ev, ctx)
    local t0 = clock()
    while clock() - t0 < MS / 1000 do end
    ctx.upsert("seen", ev.offset .. "/" .. VERSION, { v = VERSION })
  end,
}
]]):gsub("VERSION", tostring(version)):gsub("MS", tostring(ms or 0))
end

local wait_for = t.wait_for

local function count(s, pattern)
  local _, n = s:gsub(pattern, "")
  return n
end

describe("hot reload", function()
  local dir, mock

  setup(function()
    dir = t.tmpdir()
    mock = t.start_mock(dir, { "r1", "r2" })
  end)

  teardown(function()
    t.stop_mock(mock)
    t.sh("rm -rf " .. t.q(dir))
  end)

  local function events(from, to)
    local records = {}
    for i = from, to do records[#records + 1] = { "ORD-" .. i, t.event("ORD-" .. i, 1) } end
    return records
  end

  -- seen rows as { offset = version }, and the number of rows
  local function seen(db)
    local by_offset, n = {}, 0
    for _, r in ipairs(t.query(db, "select key from seen")) do
      local off, v = r.key:match("^(%d+)/(%d+)$")
      off, v = tonumber(off), tonumber(v)
      assert.is_nil(by_offset[off], "offset " .. off .. " handled twice")
      by_offset[off] = v
      n = n + 1
    end
    return by_offset, n
  end

  it("swaps a rewritten handler in between batches; a broken one leaves it running; a storm settles on the last", function()
    local hdir = dir .. "/h1"
    t.sh("mkdir -p " .. t.q(hdir))
    local file = hdir .. "/r.lua"
    t.write(file, (versioned(1, 2):gsub("TOPIC", "r1")))
    local db = dir .. "/r1.db"
    local conf = t.config(dir, mock, { group = "g-r1", topics = { "r1" }, handlers = hdir, store = db,
      batch = 50, extra = "reload: { debounce_ms: 200 }\n" })
    t.produce(mock, "r1", events(1, 1500), dir)
    local run = t.spawn(dir, "r1", t.q(t.bin) .. " run -c " .. t.q(conf))

    -- v2 written while the stream runs
    wait_for("the first events", function()
      local ok, rows = pcall(t.query, db, "select count(*) as n from seen")
      return ok and rows[1] and rows[1].n >= 100
    end)
    t.write(file .. ".tmp", (versioned(2, 2):gsub("TOPIC", "r1")))
    os.rename(file .. ".tmp", file) -- as editors save
    wait_for("all 1500 events", function()
      local _, n = seen(db)
      return n >= 1500
    end, 60)
    local by_offset, n = seen(db)
    assert.are.equal(1500, n)
    -- one switch from v1 to v2, in the middle: no event by both, none skipped
    local switch
    for off = 0, 1499 do
      local v = by_offset[off]
      assert.truthy(v, "offset " .. off .. " not handled")
      if v == 2 and not switch then switch = off end
      assert.are.equal(switch and 2 or 1, v, "offset " .. off)
    end
    assert.truthy(switch and switch > 0 and switch < 1500, "no switch mid-stream")
    assert.matches("reloaded 1 handlers from", run.log(), 1, true)

    -- a syntax error: logged with file:line, v2 keeps handling
    t.write(file, "return {\n  on_event = function(ev, ctx)\n    if then\n  end,\n}\n")
    wait_for("the failed reload", function() return run.log():match("reload failed") end)
    assert.matches("reload failed, the running handlers stay: " .. hdir .. "/r.lua:3:", run.log(), 1, true)
    t.produce(mock, "r1", events(1501, 1600), dir)
    wait_for("100 more events", function()
      local _, m = seen(db)
      return m >= 1600
    end)
    by_offset = seen(db)
    for off = 1500, 1599 do assert.are.equal(2, by_offset[off], "offset " .. off) end

    -- 100 rewrites in about a second: the last version wins, in few reloads
    local before = count(run.log(), "reloaded 1 handlers")
    for v = 3, 102 do
      t.write(file, (versioned(v):gsub("TOPIC", "r1")))
      t.sleep(0.01)
    end
    wait_for("the reload after the storm", function()
      return count(run.log(), "reloaded 1 handlers") > before
    end)
    t.sleep(0.5)
    local reloads = count(run.log(), "reloaded 1 handlers") - before
    assert.is_true(reloads >= 1 and reloads <= 3, "reloads after the storm: " .. reloads)
    t.produce(mock, "r1", events(1601, 1650), dir)
    wait_for("50 more events", function()
      local _, m = seen(db)
      return m >= 1650
    end)
    by_offset = seen(db)
    for off = 1600, 1649 do assert.are.equal(102, by_offset[off], "offset " .. off) end

    t.sh("kill -TERM " .. run.pid)
    assert.are.equal(0, run.wait(), run.log())
    assert.matches("reloads %(1 failed%)", run.log())
  end)

  it("reloads on SIGHUP, also with watching off", function()
    local hdir = dir .. "/h2"
    t.sh("mkdir -p " .. t.q(hdir))
    local file = hdir .. "/r.lua"
    t.write(file, (versioned(1):gsub("TOPIC", "r2")))
    local db = dir .. "/r2.db"
    local conf = t.config(dir, mock, { group = "g-r2", topics = { "r2" }, handlers = hdir, store = db,
      extra = "reload: { watch: false, debounce_ms: 0 }\n" })
    local run = t.spawn(dir, "r2", t.q(t.bin) .. " run -c " .. t.q(conf))
    wait_for("the consumer", function() return run.log():match("assigned") end)
    t.write(file, (versioned(2):gsub("TOPIC", "r2")))
    t.sleep(1)
    assert.not_matches("reloaded", run.log(), 1, true)
    t.sh("kill -HUP " .. run.pid)
    wait_for("the reload", function() return run.log():match("reloaded 1 handlers") end)
    assert.matches("reload requested (SIGHUP)", run.log(), 1, true)
    t.produce(mock, "r2", events(1, 10), dir)
    wait_for("10 events", function()
      local ok, rows = pcall(t.query, db, "select count(*) as n from seen")
      return ok and rows[1] and rows[1].n >= 10
    end)
    for off, v in pairs(seen(db)) do assert.are.equal(2, v, "offset " .. off) end
    t.sh("kill -TERM " .. run.pid)
    assert.are.equal(0, run.wait(), run.log())
  end)

  it("eddy dev reloads too, and shows a handler that does not load", function()
    local hdir = dir .. "/h3"
    t.sh("mkdir -p " .. t.q(hdir) .. " && cp handlers/*.lua " .. t.q(hdir))
    local text = t.read(t.root .. "/conf/eddy.yaml")
    text = text:gsub("path: var/eddy.db", "path: " .. dir .. "/dev.db"):gsub("handlers: handlers/", "handlers: " .. hdir)
    t.write(dir .. "/dev.yaml", text)
    local dev = t.spawn(dir, "dev", t.q(t.bin) .. " dev -c " .. t.q(dir .. "/dev.yaml"))
    wait_for("the examples", function() return dev.log():match("consumed 65") end, 30)
    t.write(hdir .. "/order_proposals.lua", "return {\n  on_event = function(ev, ctx)\n    ctx.upsert(\n  end,\n}\n")
    wait_for("the failed reload", function() return dev.log():match("reload failed") end)
    assert.matches("reload failed, the running handlers stay: " .. hdir .. "/order_proposals.lua:4:", dev.log(), 1, true)
    t.write(hdir .. "/order_proposals.lua", t.read("handlers/order_proposals.lua"))
    wait_for("the reload", function() return dev.log():match("reloaded 2 handlers") end)
    t.sh("kill -INT " .. dev.pid)
    assert.are.equal(0, dev.wait(), dev.log())
  end)
end)
