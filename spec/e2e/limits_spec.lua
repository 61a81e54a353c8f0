-- CPU-time and memory limits of handler calls, with the JIT on: runaway
-- handlers stopped, retried, dead-lettered with the limit in the reason;
-- the other events handled; the stopped handler's state rebuilt, and only
-- its. Memory is each handler's own: one that hoards is the one blamed.
local t = require "eddy_test"

local CPU_MS, MEMORY_MB = 200, 64

-- Every kind of runaway the limit must stop, by event type; spin.count
-- counts its calls in a module-level variable.
local SPIN = [[
local function deep(n) if n == 0 then return 0 end return 1 + deep(n - 1) end
local function tail(n) return tail(n + 1) end
local calls = 0
return {
  subscribe = { types = { "spin.*" } },
  on_event = function(ev, ctx)
    local kind = ev.type
    if kind == "spin.count" then
      calls = calls + 1
      ctx.upsert("spins", ev.key, { calls = calls })
    elseif kind == "spin.while" then
      while true do end
    elseif kind == "spin.for" then
      local x = 0
      for i = 1, 1e12 do x = x + i end
      ctx.upsert("spun", ev.key, x)
    elseif kind == "spin.deep" then
      while true do deep(10000) end
    elseif kind == "spin.tail" then
      tail(1)
    elseif kind == "spin.pcall" then
      while true do pcall(function() while true do end end) end
    elseif kind == "spin.pattern" then
      -- backtracks for some 15 s inside one library call
      string.find(("a"):rep(200), ".-.-.-.-b")
    elseif kind == "spin.memory" then
      local t = {}
      while true do t[#t + 1] = string.rep("x", 1e6) .. #t end
    end
  end,
}
]]

-- Counts its calls in a module-level variable.
local COUNT = [[
local calls = 0
return {
  subscribe = { types = { "count" } },
  on_event = function(ev, ctx)
    calls = calls + 1
    ctx.upsert("counts", ev.key, { calls = calls })
  end,
}
]]

local function event(type, id)
  return ('{"specversion":"1.0","type":"%s","source":"urn:spec","id":"%s","data":{}}'):format(type, id)
end

-- The small limits, through the environment (EDDY_* overrides the config).
local ENV = ("EDDY_HANDLER_CPU_LIMIT_MS=%d EDDY_HANDLER_MEMORY_LIMIT_MB=%d "):format(CPU_MS, MEMORY_MB)

-- Runs eddy with the limits (env: other ones); returns exit code, output,
-- seconds, peak RSS in MiB.
local function eddy_timed(dir, args, env)
  local stats = dir .. "/time.out"
  local rc, out = t.sh((env or ENV) .. "/usr/bin/time -f '%e %M' -o " .. t.q(stats) .. " timeout 60 " ..
    t.q(t.bin) .. " " .. args, true)
  local secs, kb = (t.read(stats) or ""):match("([%d.]+) (%d+)%s*$")
  return rc, out, tonumber(secs), tonumber(kb) and tonumber(kb) / 1024
end

describe("handler limits", function()
  local dir

  setup(function()
    dir = t.tmpdir()
    t.handlers(dir, { ["spin.lua"] = SPIN, ["count.lua"] = COUNT })
  end)

  teardown(function()
    t.sh("rm -rf " .. t.q(dir))
  end)

  it("run on LuaJIT with the JIT on and the check hook compiled in", function()
    local rc, out = t.eddy("--version")
    assert.are.equal(0, rc, out)
    assert.matches("^eddy %S+ %(LuaJIT 2%.1[^,]*, JIT on, checkhook%)\n$", out)
  end)

  it("stop each runaway within the CPU limit, retried, then reported; the other events handled", function()
    local kinds = { "while", "for", "deep", "tail", "pcall", "pattern" }
    local lines = { event("count", "A") }
    for i, kind in ipairs(kinds) do
      lines[#lines + 1] = event("spin." .. kind, "S" .. i)
      lines[#lines + 1] = event("count", "B" .. i)
    end
    t.write(dir .. "/cpu.ndjson", table.concat(lines, "\n") .. "\n")
    local conf = t.config(dir, nil, { require_tenant = false, store = dir .. "/cpu.db" })

    local rc, out, secs = eddy_timed(dir, "replay -c " .. t.q(conf) .. " " .. t.q(dir .. "/cpu.ndjson"))
    assert.are.equal(1, rc, out)
    for i in ipairs(kinds) do
      local line = 2 * i
      assert.matches(("cpu.ndjson:%d: handler spin.lua: %s/handlers/spin.lua: CPU time limit of %d ms exceeded")
        :format(line, dir, CPU_MS), out, 1, true)
      assert.matches(("spin.lua failed on cpu 0/%d (attempt 1 of 2"):format(line - 1), out, 1, true)
    end
    assert.matches(("%d records: %d handled"):format(2 * #kinds + 1, #kinds + 1), out, 1, true)
    -- 6 runaways, 2 calls each, 200 ms of CPU a call: ~2.4 s of handler
    -- time; unstopped, any of them would run for minutes. The bound is wall
    -- time on a machine that may be busy with other work.
    assert.truthy(secs and secs < 60, "took " .. tostring(secs) .. " s")

    -- after every stop spin.lua was loaded again, and only it: count.lua's
    -- module variable went on counting
    local rows = t.query(dir .. "/cpu.db", "select key, value from counts order by key")
    assert.are.equal(#kinds + 1, #rows)
    assert.are.equal('{"calls":1}', rows[1].value, rows[1].key)
    for i = 1, #kinds do
      assert.are.equal(('{"calls":%d}'):format(i + 1), rows[i + 1].value, rows[i + 1].key)
    end
    assert.are.equal(0, #t.query(dir .. "/cpu.db",
      "select name from sqlite_master where name = 'spun'"))
  end)

  it("stop a memory hog at the memory limit without the process growing", function()
    t.write(dir .. "/mem.ndjson", table.concat({
      event("count", "A"), event("spin.count", "X1"), event("spin.memory", "M"), event("count", "B"),
      event("spin.count", "X2"), event("count", "C"),
    }, "\n") .. "\n")
    local conf = t.config(dir, nil, { require_tenant = false, store = dir .. "/mem.db" })

    -- filling 64 MB takes some 250 ms of CPU (more under ASan): a CPU limit
    -- of 200 ms would race the memory limit
    local rc, out, secs, rss = eddy_timed(dir, "replay -c " .. t.q(conf) .. " " .. t.q(dir .. "/mem.ndjson"),
      ("EDDY_HANDLER_CPU_LIMIT_MS=5000 EDDY_HANDLER_MEMORY_LIMIT_MB=%d "):format(MEMORY_MB))
    assert.are.equal(1, rc, out)
    assert.matches(("mem.ndjson:3: handler spin.lua: %s/handlers/spin.lua: memory limit of %d MB exceeded")
      :format(dir, MEMORY_MB), out, 1, true)
    assert.matches("attempt 1 of 2", out, 1, true)
    assert.matches("6 records: 5 handled", out, 1, true)
    assert.truthy(secs and secs < 30, "took " .. tostring(secs) .. " s")
    -- the cap plus the process around it, not gigabytes
    assert.truthy(rss and rss < MEMORY_MB + 120, "peak RSS " .. tostring(rss) .. " MiB")
    -- spin.lua's new state works and started afresh (X2 is its first
    -- call); count.lua kept its state
    assert.are.same({ { key = "X1", value = '{"calls":1}' }, { key = "X2", value = '{"calls":1}' } },
      t.query(dir .. "/mem.db", "select key, value from spins order by key"))
    local rows = t.query(dir .. "/mem.db", "select key, value from counts order by key")
    assert.are.same({ { key = "A", value = '{"calls":1}' }, { key = "B", value = '{"calls":2}' },
                      { key = "C", value = '{"calls":3}' } }, rows)
  end)

  it("count what json.decode parses and what ctx.upsert buffers against the memory limit", function()
    t.handlers(dir .. "/held", { ["held.lua"] = [[
return {
  on_event = function(ev, ctx)
    if ev.type == "decode" then
      -- 63 MB of text: 21 million arrays, a tree of 1.7 GB outside Lua
      json.decode("[" .. ("[],"):rep(2.1e7) .. "0]")
    elseif ev.type == "big" then
      ctx.upsert("held", ev.key, ("x"):rep(20 * 1024 * 1024))
    elseif ev.type == "writes" then
      -- without a CPU limit: 10 MB a write, for ever
      local v = ("x"):rep(10 * 1024 * 1024)
      for i = 1, 1e9 do ctx.upsert("held", ev.key, v) end
    else
      ctx.upsert("held", ev.key, "ok")
    end
  end,
}
]] })
    t.write(dir .. "/held.ndjson", table.concat({
      event("decode", "D"), event("big", "B"), event("writes", "W"), event("count", "C"),
    }, "\n") .. "\n")
    local conf = t.config(dir .. "/held", nil, { require_tenant = false, retries = 0,
                                                 store = dir .. "/held.db" })

    local rc, out, secs, rss = eddy_timed(dir, "replay -c " .. t.q(conf) .. " " .. t.q(dir .. "/held.ndjson"),
      "EDDY_HANDLER_CPU_LIMIT_MS=0 EDDY_HANDLER_MEMORY_LIMIT_MB=256 ")
    assert.are.equal(1, rc, out)
    local file = dir .. "/held/handlers/held.lua"
    assert.matches(("held.ndjson:1: handler held.lua: %s: memory limit of 256 MB exceeded"):format(file),
      out, 1, true)
    assert.matches(("held.ndjson:2: handler held.lua: %s:7: ctx.upsert: value of 20971522 bytes is " ..
      "more than store.max_value_bytes (16777216)"):format(file), out, 1, true)
    assert.matches(("held.ndjson:3: handler held.lua: %s: memory limit of 256 MB exceeded"):format(file),
      out, 1, true)
    assert.matches("4 records: 1 handled", out, 1, true)
    -- the tree took 1.8 GB and 11 s, the writes grew without end
    assert.truthy(secs and secs < 60, "took " .. tostring(secs) .. " s")
    assert.truthy(rss and rss < 256 + 200, "peak RSS " .. tostring(rss) .. " MiB")
    assert.are.same({ { key = "C", value = '"ok"' } },
      t.query(dir .. "/held.db", "select key, value from held order by key"))
  end)

  -- Keeps its top level's 40 MiB and 8 MiB more each event in a
  -- module-level list, and stores how many MiB it keeps.
  local HOARD = [[
local kept = {}
local function mib(i) return string.rep(string.format("%07d,", i), 131072) end
for i = 1, 40 do kept[i] = mib(i) end
return {
  subscribe = { types = { "hoard" } },
  on_event = function(ev, ctx)
    for i = 1, 8 do kept[#kept + 1] = mib(#kept + 1) end
    ctx.upsert("kept", ev.key, #kept)
  end,
}
]]
  -- Needs 24 MiB for a moment in each call (a string of 12 and the buffer
  -- string.rep makes it in), and counts its calls.
  local INNOCENT = [[
local calls = 0
return {
  subscribe = { types = { "innocent" } },
  on_event = function(ev, ctx)
    calls = calls + 1
    local s = string.rep("i", 12 * 1024 * 1024)
    ctx.upsert("calls", ev.key, calls .. " " .. #s)
  end,
}
]]

  it("blame the handler that hoards memory in its module-level state; the other's events all handled", function()
    local sub = dir .. "/hoard"
    t.handlers(sub, { ["hoard.lua"] = HOARD, ["innocent.lua"] = INNOCENT })
    -- with one state for both, the hoarder's 48 MiB and the other's 24
    -- passed the 64 MiB limit in the other's call, which was blamed
    local records = {}
    for i = 1, 6 do
      records[#records + 1] = { "H" .. i, event("hoard", "H" .. i) }
      records[#records + 1] = { "I" .. i, event("innocent", "I" .. i) }
    end
    local mock = t.start_mock(sub, { "orders", "eddy.dlq" })
    local ok, err = pcall(function()
      t.produce(mock, "orders", records, sub)
      local conf = t.config(sub, mock, { group = "g-hoard", require_tenant = false, retries = 0,
                                         store = sub .. "/run.db" })
      local rc, out = eddy_timed(sub, "run -c " .. t.q(conf) .. " --exit-at-end",
        ("EDDY_HANDLER_CPU_LIMIT_MS=5000 EDDY_HANDLER_MEMORY_LIMIT_MB=%d "):format(MEMORY_MB))
      assert.are.equal(0, rc, out)

      -- every event of the other handler handled, by one state throughout
      local calls = t.query(sub .. "/run.db", "select key, value from calls order by key")
      assert.are.equal(6, #calls, out)
      for i, r in ipairs(calls) do
        assert.are.equal("I" .. i, r.key)
        assert.are.equal(('"%d 12582912"'):format(i), r.value)
      end

      -- the hoarder passes the limit at its third event (64 MiB), is
      -- blamed, and its state alone is made again: it keeps 41 MiB after
      -- the fourth
      local dlq = t.consume(mock, "eddy.dlq")
      local keys = {}
      for _, m in ipairs(dlq) do
        keys[#keys + 1] = m.key
        assert.are.equal("handler", m.headers["eddy.error.stage"])
        assert.are.equal("hoard.lua", m.headers["eddy.error.handler"])
        assert.are.equal(("%s/handlers/hoard.lua: memory limit of %d MB exceeded"):format(sub, MEMORY_MB),
          m.headers["eddy.error.reason"])
      end
      assert.are.same({ "H3", "H6" }, keys)
      assert.are.same({ { key = "H1", value = "48" }, { key = "H2", value = "56" },
                        { key = "H4", value = "48" }, { key = "H5", value = "56" } },
        t.query(sub .. "/run.db", "select key, value from kept order by key"))
    end)
    t.stop_mock(mock)
    assert(ok, err)
  end)

  it("close a stopped handler's state before its new one is built: the process stays near the limit", function()
    local sub, limit = dir .. "/rss", 192
    -- 150 MiB at its top level, 16 more an event: the third passes 192
    t.handlers(sub, { ["hoard.lua"] = HOARD:gsub("for i = 1, 40 do", "for i = 1, 150 do")
                                            :gsub("for i = 1, 8 do", "for i = 1, 16 do") })
    t.write(sub .. "/rss.ndjson", table.concat({
      event("hoard", "H1"), event("hoard", "H2"), event("hoard", "H3"), event("hoard", "H4"),
    }, "\n") .. "\n")
    local conf = t.config(sub, nil, { require_tenant = false, store = sub .. "/rss.db" })

    local rc, out, _, rss = eddy_timed(sub, "replay -c " .. t.q(conf) .. " " .. t.q(sub .. "/rss.ndjson"),
      ("EDDY_HANDLER_CPU_LIMIT_MS=5000 EDDY_HANDLER_MEMORY_LIMIT_MB=%d "):format(limit))
    assert.are.equal(0, rc, out)
    assert.matches(("hoard.lua failed on rss 0/2 (attempt 1 of 2, retry in 10 ms): " ..
      "%s/handlers/hoard.lua: memory limit of %d MB exceeded"):format(sub, limit), out, 1, true)
    assert.matches("4 records: 4 handled", out, 1, true)
    -- H3 was handled on its retry, by the new state
    assert.are.same({ { key = "H1", value = "166" }, { key = "H2", value = "182" },
                      { key = "H3", value = "166" }, { key = "H4", value = "182" } },
      t.query(sub .. "/rss.db", "select key, value from kept order by key"))
    -- the old state at the limit and the new one's 150 MiB together would
    -- be 342 MiB and more
    assert.truthy(rss and rss < limit + 100, "peak RSS " .. tostring(rss) .. " MiB")
  end)

  it("refuse to load a handler file whose top level runs away", function()
    t.handlers(dir .. "/bad", { ["loop.lua"] = "while true do end\nreturn {}\n" })
    local conf = t.config(dir .. "/bad", nil, { require_tenant = false })
    t.write(dir .. "/one.ndjson", event("count", "A") .. "\n")
    local rc, out, secs = eddy_timed(dir, "replay -c " .. t.q(conf) .. " " .. t.q(dir .. "/one.ndjson"))
    assert.are_not.equal(0, rc, out)
    assert.matches(("%s/bad/handlers/loop.lua: CPU time limit of %d ms exceeded"):format(dir, CPU_MS), out, 1, true)
    assert.truthy(secs and secs < 30, "took " .. tostring(secs) .. " s")
  end)

  it("check a record against its schema within a budget of steps", function()
    -- 39 levels of oneOf [s(k-1), not s(k-1)]: 2^39 evaluations unbounded
    local defs = { '"s0": { "type": "integer" }' }
    for k = 1, 39 do
      defs[#defs + 1] = ('"s%d": { "oneOf": [{ "$ref": "#/definitions/s%d" }, { "not": { "$ref": "#/definitions/s%d" } }] }')
        :format(k, k - 1, k - 1)
    end
    t.sh("mkdir -p " .. t.q(dir .. "/schemas"))
    t.write(dir .. "/schemas/exp.json", '{ "$id": "urn:spec:exp", "definitions": { ' ..
      table.concat(defs, ", ") .. ' }, "allOf": [{ "$ref": "#/definitions/s39" }] }')
    t.write(dir .. "/schemas/unique.json", '{ "$id": "urn:spec:unique", "type": "array", "uniqueItems": true }')
    local items = {}
    for i = 1, 100000 do items[i] = i end
    local distinct = "[" .. table.concat(items, ",") .. "]"
    local function with_data(type, id, data)
      return ('{"specversion":"1.0","type":"%s","source":"urn:spec","id":"%s","data":%s}'):format(type, id, data)
    end
    t.write(dir .. "/schema.ndjson", table.concat({
      with_data("exp", "E", "1"),
      -- 100k items, compared pairwise, took 12 s; 1 and 1.0 are equal
      with_data("unique", "U1", distinct),
      with_data("unique", "U2", distinct:sub(1, -2) .. ",1.0]"),
      event("count", "C"),
    }, "\n") .. "\n")
    local conf = t.config(dir, nil, { require_tenant = false, store = dir .. "/schema.db",
      extra = "schemas:\n  dir: " .. dir .. "/schemas\n  types: { exp: \"urn:spec:exp\", unique: \"urn:spec:unique\" }\n" })

    -- a tenth of the default budget: a tenth of a second (more under ASan)
    local rc, out, secs = eddy_timed(dir, "replay -c " .. t.q(conf) .. " " .. t.q(dir .. "/schema.ndjson"),
      ENV .. "EDDY_SCHEMAS_MAX_VALIDATION_STEPS=10000000 ")
    assert.are.equal(1, rc, out)
    assert.matches("schema.ndjson:1: schema: data: validation against schema urn:spec:exp took more than " ..
      "schemas.max_validation_steps (10000000 steps)", out, 1, true)
    assert.matches("schema.ndjson:3: schema: data: items 0 and 100000 are equal (1), must be unique", out, 1, true)
    assert.matches("4 records: 1 handled, 1 not subscribed, 2 invalid", out, 1, true)
    -- unbounded, the first record would run for hours and the others 12 s
    -- each; the bound is wall time on a machine that may be busy
    assert.truthy(secs and secs < 20, "took " .. tostring(secs) .. " s")
  end)

  it("dead-letter a stopped event with the limit and the handler in its headers (eddy run)", function()
    local mock = t.start_mock(dir, { "orders", "eddy.dlq" })
    local ok, err = pcall(function()
      t.produce(mock, "orders", {
        { "A", event("count", "A") }, { "S", event("spin.for", "S") }, { "B", event("count", "B") },
      }, dir)
      local conf = t.config(dir, mock, { group = "g-limits", require_tenant = false,
                                         store = dir .. "/run.db" })
      local rc, out = eddy_timed(dir, "run -c " .. t.q(conf) .. " --exit-at-end")
      assert.are.equal(0, rc, out)
      local dlq = t.consume(mock, "eddy.dlq")
      assert.are.equal(1, #dlq)
      local h = dlq[1].headers
      assert.are.equal("S", dlq[1].key)
      assert.are.equal("handler", h["eddy.error.stage"])
      assert.are.equal("spin.lua", h["eddy.error.handler"])
      assert.are.equal(("%s/handlers/spin.lua: CPU time limit of %d ms exceeded"):format(dir, CPU_MS),
        h["eddy.error.reason"])
      assert.are.equal(2, #t.query(dir .. "/run.db", "select key from counts"))
    end)
    t.stop_mock(mock)
    assert(ok, err)
  end)
end)
