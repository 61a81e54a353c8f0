-- Two replicas of eddy in one consumer group on a topic of four
-- partitions; one is killed with SIGKILL mid-stream. The other takes its
-- partitions once the group notices (session.timeout.ms) and the final
-- state is exact: one PostgreSQL database shared by both, or a SQLite file
-- per replica (each key newest where its partition was last handled).
local t = require "eddy_test"
local cjson = require "cjson"

local SESSION_S = 3

local function sum(list)
  local n = 0
  for _, v in ipairs(list) do n = n + math.max(v, 0) end
  return n
end

local function now() return tonumber((select(2, t.sh("date +%s.%N")))) end

local wait = t.wait_until

local function count(s, pattern)
  local n = 0
  for _ in s:gmatch(pattern) do n = n + 1 end
  return n
end

describe("two replicas in one group, one killed", function()
  local dir, mock, pg_dsn, pg_dir

  setup(function()
    dir = t.tmpdir()
    mock = t.start_mock(dir, { "rep-sqlite:4", "rep-pg:4", "eddy.dlq" })
    t.handlers(dir, { ["orders.lua"] = t.slow_handler(0.002) })
    pg_dsn, pg_dir = t.start_pg()
  end)

  teardown(function()
    t.stop_mock(mock)
    t.stop_pg(pg_dir)
    t.sh("rm -rf " .. t.q(dir))
  end)

  -- Runs the scenario on topic; store(name) is the store line of replica
  -- name. Returns the records, the last version and the tombstone
  -- position of each key.
  local function scenario(topic, store)
    local records = t.churn_stream(2400, 200)
    local last, deleted_at = {}, {}
    for i, r in ipairs(records) do
      if r[2] then last[r[1]] = i; deleted_at[r[1]] = nil else last[r[1]] = nil; deleted_at[r[1]] = i end
    end
    t.produce(mock, topic, records, dir)
    local runs = {}
    for _, name in ipairs({ "a", "b" }) do
      local conf = t.config(dir, mock, { group = "g-" .. topic, topics = { topic }, batch = 50,
                                         session_timeout_ms = SESSION_S * 1000 })
      local text = t.read(conf):gsub("store: [^\n]*", store(name))
      conf = dir .. "/" .. topic .. "-" .. name .. ".yaml"
      t.write(conf, text)
      runs[name] = t.spawn(dir, topic .. "-" .. name, t.q(t.bin) .. " run -c " .. t.q(conf))
      if name == "a" then
        assert.truthy(wait(function() return runs.a.log():match("assigned 4 partition") end, 20), runs.a.log())
      end
    end
    local a, b = runs.a, runs.b
    -- b joins: the partitions are shared between the two
    assert.truthy(wait(function() return b.log():match("assigned 2 partition") end, 30), b.log())
    local function committed() return t.committed(mock, "g-" .. topic, topic, 4) end
    local before = sum(committed())
    assert.truthy(wait(function() return sum(committed()) > before + 100 end, 30), a.log() .. b.log())
    t.sh("kill -9 " .. a.pid)
    local killed = now()
    assert.are.equal(137, a.wait())
    assert.truthy(sum(committed()) < #records, "the stream ended before the kill")
    -- b is given every partition once the group notices a is gone
    local assigned = count(b.log(), "assigned %d+ partition")
    assert.truthy(wait(function() return count(b.log(), "assigned 4 partition") > 0 and
                                         count(b.log(), "assigned %d+ partition") > assigned end, 30), b.log())
    local took = now() - killed
    assert.truthy(took < SESSION_S + 5, ("took %.1f s\n"):format(took) .. b.log())
    assert.truthy(wait(function() return sum(committed()) == #records end, 60), b.log())
    t.sh("kill -TERM " .. b.pid)
    assert.are.equal(0, b.wait(), b.log())
    return last, deleted_at
  end

  it("shares one PostgreSQL database: its state is exact", function()
    local rc, out = t.sh("psql " .. t.q(pg_dsn) .. " -qAt -c 'CREATE DATABASE replicas'", true)
    assert.are.equal(0, rc, out)
    local dsn = pg_dsn:gsub("dbname=%S+", "dbname=replicas")
    local last = scenario("rep-pg", function() return 'store: { type: postgres, dsn: "' .. dsn .. '" }' end)
    local _, rows = t.sh("psql " .. t.q(dsn) .. " -qAt -F '\t' -c 'select key, value from orders'")
    local got = {}
    for key, value in rows:gmatch("([^\t\n]+)\t([^\n]+)") do got[key] = cjson.decode(value).version end
    assert.are.same(last, got)
  end)

  it("with a SQLite file per replica, each key is newest where its partition was handled last", function()
    local last, deleted_at = scenario("rep-sqlite", function(name)
      return "store: { type: sqlite, path: " .. dir .. "/rep-" .. name .. ".db }"
    end)
    local newest = {}
    for _, name in ipairs({ "a", "b" }) do
      for _, r in ipairs(t.query(dir .. "/rep-" .. name .. ".db", "select key, value from orders")) do
        local v = cjson.decode(r.value).version
        if not newest[r.key] or v > newest[r.key] then newest[r.key] = v end
      end
    end
    for key, v in pairs(last) do assert.are.equal(v, newest[key], key) end
    -- a deleted key may survive only as a version older than its tombstone
    -- (in the store of the replica that did not handle the tombstone)
    for key, at in pairs(deleted_at) do
      assert.truthy(not newest[key] or newest[key] < at, key .. " newer than its tombstone")
    end
  end)
end)
