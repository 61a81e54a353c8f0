-- Stopping and retrying without holding up the consumer: a handler retry
-- pauses only its partition (the loop keeps polling, a stop is not held
-- up by a backoff), a stop finishes its work within shutdown.grace_ms and
-- commits exactly what is durable, and the next start loses nothing.
local t = require "eddy_test"
local cjson = require "cjson"

-- Milliseconds into the day of the first log line holding text.
local function log_ms(log, text)
  for line in log:gmatch("[^\n]+") do
    if line:find(text, 1, true) then
      local y, mo, d, h, mi, s, ms = line:match("^(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)%.(%d+)Z")
      assert(y, "no time stamp: " .. line)
      -- the whole date counts: a run may cross midnight
      local at = os.time({ year = tonumber(y), month = tonumber(mo), day = tonumber(d), hour = tonumber(h),
                           min = tonumber(mi), sec = tonumber(s), isdst = false })
      return at * 1000 + tonumber(ms)
    end
  end
  error("no line holds " .. text .. " in:\n" .. log)
end

local function produce_to(mock, topic, partition, records, dir)
  local lines = {}
  for _, r in ipairs(records) do lines[#lines + 1] = r[1] .. "\t" .. r[2] end
  local file = dir .. "/p" .. partition .. ".kv"
  t.write(file, table.concat(lines, "\n") .. "\n")
  local rc, out = t.sh("kcat -P -b " .. mock.bootstrap .. " -t " .. topic .. " -p " .. partition ..
    " -K '\t' -Z -l " .. t.q(file), true)
  assert(rc == 0, out)
end

local function rows(db)
  return t.query(db, "select count(*) as n from orders")[1].n
end

-- The alerts the receiver answered 200: how many distinct ones (by
-- webhook-id: an alert whose outcome could not be recorded is sent again
-- under the same id, which receivers drop) and the deliveries of each.
local function delivered(dir, name)
  local ids, n = {}, 0
  for line in (t.read(dir .. "/" .. name .. ".deliveries") or ""):gmatch("[^\n]+") do
    local d = cjson.decode(line)
    if d.status == 200 then
      assert(d.webhook_id, "a delivery without a webhook-id: " .. line)
      if not ids[d.webhook_id] then n = n + 1 end
      ids[d.webhook_id] = (ids[d.webhook_id] or 0) + 1
    end
  end
  return n, ids
end

-- A handler that raises an alert for every event after about ms of CPU.
local ALERTING = [[
local clock = os.clock
return {
  on_event = function(ev, ctx)
    local t0 = clock()
    while clock() - t0 < SECONDS do end
    ctx.upsert("orders", ev.key, ev.data)
    ctx.alert{ severity = "warning", key = ev.key, summary = "order " .. ev.key }
  end,
}
]]

local function sink_conf(url)
  return "alerts:\n  sinks:\n    ops: { type: webhook, url: \"" .. url .. "/hook\", timeout_ms: 60000 }\n"
end

describe("stopping and retrying", function()
  local dir, mock

  setup(function()
    dir = t.tmpdir()
    mock = t.start_mock(dir, { "pair:2", "stuck", "grace", "burst", "eddy.dlq" })
  end)

  teardown(function()
    t.stop_mock(mock)
    t.sh("rm -rf " .. t.q(dir))
  end)

  it("a handler retry pauses its own partition only; its records keep their order", function()
    t.handlers(dir .. "/pair", { ["orders.lua"] = [[
local failed = false
return {
  on_event = function(ev, ctx)
    if ev.key == "ORD-1" and not failed then
      failed = true
      error("not yet")
    end
    ctx.log("info", "handled " .. ev.key)
    ctx.upsert("orders", ev.key, ev.data)
  end,
}
]] })
    produce_to(mock, "pair", 0, { { "ORD-1", t.event("ORD-1", 1) }, { "ORD-2", t.event("ORD-2", 1) } }, dir)
    produce_to(mock, "pair", 1, { { "ORD-3", t.event("ORD-3", 1) }, { "ORD-4", t.event("ORD-4", 1) } }, dir)
    local conf = t.config(dir, mock, { group = "g-pair", topics = { "pair" }, retries = 1,
                                       backoff_ms = 2000, handlers = dir .. "/pair/handlers",
                                       store = dir .. "/pair.db" })
    local rc, log = t.eddy("run -c " .. t.q(conf) .. " --exit-at-end")
    assert.are.equal(0, rc, log)
    local failed = log_ms(log, "orders.lua failed on pair 0/0 (attempt 1 of 2, retry in 2000 ms)")
    -- the other partition is handled during the backoff ...
    assert.truthy(log_ms(log, "handled ORD-4") < failed + 2000, log)
    -- ... the retried record after it, and the rest of its partition after the record
    local retried = log_ms(log, "handled ORD-1")
    assert.truthy(retried >= failed + 1900, log)
    assert.truthy(log_ms(log, "handled ORD-2") >= retried, log)
    assert.are.equal(4, rows(dir .. "/pair.db"))
    assert.are.same({ 2, 2 }, t.committed(mock, "g-pair", "pair", 2))
  end)

  it("a stop during a handler's backoff exits at once; the next start handles the record", function()
    t.handlers(dir .. "/stuck", { ["orders.lua"] = [[
return {
  on_event = function(ev, ctx)
    if ev.key == "ORD-1" then error("the service it needs is down") end
    ctx.upsert("orders", ev.key, ev.data)
  end,
}
]] })
    t.produce(mock, "stuck", { { "ORD-0", t.event("ORD-0", 1) }, { "ORD-1", t.event("ORD-1", 1) },
                               { "ORD-2", t.event("ORD-2", 1) } }, dir)
    local conf = t.config(dir, mock, { group = "g-stuck", topics = { "stuck" }, retries = 3,
                                       backoff_ms = 60000, handlers = dir .. "/stuck/handlers",
                                       store = dir .. "/stuck.db" })
    local run = t.spawn(dir, "stuck", t.q(t.bin) .. " run -c " .. t.q(conf))
    for _ = 1, 200 do
      if run.log():match("retry in 60000 ms") then break end
      t.sleep(0.05)
    end
    assert.matches("retry in 60000 ms", run.log())
    -- the loop keeps turning while the partition waits
    t.sleep(0.5)
    assert.are.equal(200, (t.http_get(t.http_port(run), "/livez")))
    t.sh("kill -TERM " .. run.pid)
    local rc = run.wait() -- nil after 20 s: it slept through the backoff
    assert.are.equal(0, rc, run.log())
    assert.are.same({ 1 }, t.committed(mock, "g-stuck", "stuck", 1))
    assert.are.equal(1, rows(dir .. "/stuck.db"))

    t.handlers(dir .. "/stuck", { ["orders.lua"] = t.ORDERS_HANDLER })
    local out
    rc, out = t.eddy("run -c " .. t.q(conf) .. " --exit-at-end")
    assert.are.equal(0, rc, out)
    assert.are.equal(3, rows(dir .. "/stuck.db"))
    assert.are.same({ 3 }, t.committed(mock, "g-stuck", "stuck", 1))
  end)

  it("a stop with alerts pending sends them, commits exactly the finished work, and the next start loses nothing", function()
    local recv = t.start_receiver(dir, "burst", "--delay-ms 5")
    local records = {}
    for i = 1, 600 do records[i] = { "ORD-" .. i, t.event("ORD-" .. i, 1) } end
    t.produce(mock, "burst", records, dir)
    t.handlers(dir .. "/burst", { ["alerting.lua"] = (ALERTING:gsub("SECONDS", "0.004")) })
    local conf = t.config(dir, mock, { group = "g-burst", topics = { "burst" }, batch = 50,
                                       handlers = dir .. "/burst/handlers",
                                       store = dir .. "/burst.db", extra = sink_conf(recv.url) })
    local run = t.spawn(dir, "burst", t.q(t.bin) .. " run -c " .. t.q(conf))
    for _ = 1, 400 do
      if t.committed(mock, "g-burst", "burst", 1)[1] >= 100 then break end
      t.sleep(0.05)
    end
    t.sh("kill -TERM " .. run.pid)
    assert.are.equal(0, run.wait(), run.log())
    local log = run.log()
    local committed = t.committed(mock, "g-burst", "burst", 1)[1]
    assert.truthy(committed >= 100 and committed < 600, "stopped at " .. committed)
    assert.are.equal(committed, rows(dir .. "/burst.db"))
    -- every alert of the finished work was sent before the exit
    assert.matches("alerts: stopped: " .. committed .. " delivered, 0 retries, 0 failed, 0 given up; 0 left in the outbox", log, 1, true)
    assert.are.equal(committed, (delivered(dir, "burst")))

    local rc, out = t.eddy("run -c " .. t.q(conf) .. " --exit-at-end")
    assert.are.equal(0, rc, out)
    assert.are.equal(600, rows(dir .. "/burst.db"))
    -- every alert delivered, none under two ids
    assert.are.equal(600, (delivered(dir, "burst")))
    t.sh("kill " .. recv.pid)
  end)

  it("a stop takes no longer than shutdown.grace_ms; what it could not send waits in the outbox", function()
    -- every request hangs for 30 s
    local recv = t.start_receiver(dir, "grace", "--script hang:30*20")
    t.produce(mock, "grace", { { "ORD-1", t.event("ORD-1", 1) }, { "ORD-2", t.event("ORD-2", 1) } }, dir)
    t.handlers(dir .. "/grace", { ["alerting.lua"] = (ALERTING:gsub("SECONDS", "0")) })
    local conf = t.config(dir, mock, { group = "g-grace", topics = { "grace" },
                                       handlers = dir .. "/grace/handlers", store = dir .. "/grace.db",
                                       extra = sink_conf(recv.url) .. "shutdown: { grace_ms: 1500 }\n" })
    local run = t.spawn(dir, "grace", t.q(t.bin) .. " run -c " .. t.q(conf))
    for _ = 1, 400 do
      if t.committed(mock, "g-grace", "grace", 1)[1] == 2 then break end
      t.sleep(0.05)
    end
    t.sleep(0.3) -- the sender has the two under way
    local t0 = os.time()
    t.sh("kill -TERM " .. run.pid)
    assert.are.equal(0, run.wait(), run.log())
    -- 1.5 s of grace, the group left and the process gone well before
    -- the receiver's 30 s
    assert.truthy(os.time() - t0 <= 6, "took " .. (os.time() - t0) .. " s\n" .. run.log())
    assert.matches("alerts: stopped: 0 delivered, [^\n]* 2 left in the outbox", run.log())
    t.sh("kill " .. recv.pid)

    recv = t.start_receiver(dir, "grace2", "")
    conf = t.config(dir, mock, { group = "g-grace", topics = { "grace" },
                                 handlers = dir .. "/grace/handlers", store = dir .. "/grace.db",
                                 extra = sink_conf(recv.url) })
    local rc, out = t.eddy("run -c " .. t.q(conf) .. " --exit-at-end")
    assert.are.equal(0, rc, out)
    assert.matches("alerts: stopped: 2 delivered", out, 1, true)
    assert.are.equal(2, (delivered(dir, "grace2")))
    t.sh("kill " .. recv.pid)
  end)
end)
