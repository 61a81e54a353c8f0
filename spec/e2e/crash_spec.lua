-- Nothing lost across a crash loop: a stream of changes, invalid events and
-- alerts, eddy killed with SIGKILL at random moments and restarted each
-- time, ends with the store equal to the expected state, every invalid
-- event in the dead-letter topic (repeats allowed) and every alert
-- delivered to a real receiver exactly once (one webhook-id each: a resend
-- after a crash carries the same id, which receivers drop).
local t = require "eddy_test"
local cjson = require "cjson"

-- `make soak` runs the long variant: 20 kills of a 200k-event run
local KILLS = tonumber(os.getenv("EDDY_CRASH_KILLS") or "4")
local EVENTS = tonumber(os.getenv("EDDY_CRASH_EVENTS") or "3000")
local PARTITIONS = tonumber(os.getenv("EDDY_CRASH_PARTITIONS") or "4")
-- CPU per event of the upsert handler: slow enough for kills to land mid-stream
local HANDLER_S = tonumber(os.getenv("EDDY_CRASH_HANDLER_S") or "0.0015")

describe("a crash loop", function()
  local dir, mock, recv

  setup(function()
    dir = t.tmpdir()
    mock = t.start_mock(dir, { "crash:" .. PARTITIONS, "crash.dlq" })
    recv = t.start_receiver(dir, "receiver")
  end)

  teardown(function()
    t.stop_mock(mock)
    if recv then t.sh("kill " .. recv.pid) end
    t.sh("rm -rf " .. t.q(dir))
  end)

  it("ends in the expected state with every dead letter and each alert once", function()
    local seed = tonumber(os.getenv("EDDY_CRASH_SEED") or os.time())
    math.randomseed(seed)
    local records, expect = t.churn_stream(EVENTS, 300)
    -- every 150th change is an envelope violation (key != id): a dead
    -- letter, the state untouched
    local invalid = {}
    for i = 150, #records, 150 do
      local key = records[i][1]
      records[i] = { key, t.event("X-" .. i, i) }
      invalid[#invalid + 1] = key
    end
    expect = {}
    for _, r in ipairs(records) do
      local ev = r[2] and cjson.decode(r[2])
      if not r[2] then expect[r[1]] = nil
      elseif ev.id == r[1] then expect[r[1]] = ev.data.version end
    end
    -- alerts: every 40th version raises one, keyed by its version
    local alerts = {}
    for _, r in ipairs(records) do
      local ev = r[2] and cjson.decode(r[2])
      if ev and ev.id == r[1] and ev.data.version % 40 == 0 then alerts[#alerts + 1] = ev.data.version end
    end
    -- kcat spreads the keys over the partitions
    t.produce(mock, "crash", records, dir)
    t.handlers(dir, {
      ["orders.lua"] = t.slow_handler(HANDLER_S),
      ["alerting.lua"] = [[
return {
  on_event = function(ev, ctx)
    if ev.deleted or ev.data.version % 40 ~= 0 then return end
    ctx.alert{ severity = "warning", key = "v" .. ev.data.version,
               summary = "version " .. ev.data.version }
  end,
}
]],
    })
    local conf = t.config(dir, mock, { group = "g-crash", topics = { "crash" }, dlq = "crash.dlq",
                                       store = dir .. "/crash.db", batch = 100,
                                       session_timeout_ms = 3000,
                                       extra = "alerts:\n  sinks:\n    ops: { type: webhook, url: \"" ..
                                         recv.url .. "/hook\" }\n" })
    local kills = {}
    for k = 1, KILLS do
      local run = t.spawn(dir, "run" .. k, t.q(t.bin) .. " run -c " .. t.q(conf))
      -- wait for the group, then kill at a random moment of the work
      for _ = 1, 400 do
        if run.log():match("assigned %d+ partition") then break end
        t.sleep(0.05)
      end
      t.sleep(0.2 + math.random() * 1.5)
      t.sh("kill -9 " .. run.pid)
      assert.are.equal(137, run.wait(), run.log())
      local c = t.committed(mock, "g-crash", "crash", PARTITIONS)
      kills[#kills + 1] = table.concat(c, ",")
    end
    if os.getenv("EDDY_CRASH_DEBUG") then io.stderr:write("kills: ", table.concat(kills, " / "), "\n") end
    local rc, out = t.eddy("run -c " .. t.q(conf) .. " --exit-at-end", 600)
    local why = "seed " .. seed .. ", committed at the kills: " .. table.concat(kills, " / ") .. "\n" .. out
    assert.are.equal(0, rc, why)
    -- alerts a busy receiver did not take in time wait out their backoff in
    -- the outbox: later starts send them
    for _ = 1, 5 do
      if out:match("; 0 left in the outbox") then break end
      t.sleep(2)
      rc, out = t.eddy("run -c " .. t.q(conf) .. " --exit-at-end", 120)
      assert.are.equal(0, rc, why .. "\n" .. out)
    end

    local got = {}
    for _, r in ipairs(t.query(dir .. "/crash.db", "select key, value from orders")) do
      got[r.key] = cjson.decode(r.value).version
    end
    assert.are.same(expect, got, why)

    local dead = {}
    for _, m in ipairs(t.consume(mock, "crash.dlq")) do dead[m.key] = (dead[m.key] or 0) + 1 end
    for _, key in ipairs(invalid) do assert.truthy(dead[key], key .. " not dead-lettered; " .. why) end

    -- each alert delivered, and under one webhook-id only
    local ids, by_summary = {}, {}
    for line in (t.read(recv.deliveries) or ""):gmatch("[^\n]+") do
      local d = cjson.decode(line)
      if d.status == 200 then
        local summary = cjson.decode(d.body).summary
        by_summary[summary] = by_summary[summary] or {}
        by_summary[summary][d.headers["webhook-id"]] = true
        ids[d.headers["webhook-id"]] = true
      end
    end
    for _, v in ipairs(alerts) do
      local seen = by_summary["version " .. v]
      assert.truthy(seen, "alert of version " .. v .. " not delivered; " .. why)
      local n = 0
      for _ in pairs(seen) do n = n + 1 end
      assert.are.equal(1, n, "alert of version " .. v .. " sent under " .. n .. " ids; " .. why)
    end
  end)
end)
