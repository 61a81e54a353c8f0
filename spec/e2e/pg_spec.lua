-- eddy run against a mock Kafka cluster with its state in a real PostgreSQL
-- server (tests/tools/pg-start): snapshots, tombstones and violations as
-- with SQLite, a server stopped and started again mid-stream with nothing
-- lost, and the alert outbox in the same database.
local t = require "eddy_test"
local cjson = require "cjson"

describe("eddy run with the postgres store", function()
  local dir, mock, pg_dsn, pg_dir

  -- A database of its own for a test, and the DSN that names it.
  local function database(name)
    local rc, out = t.sh("psql " .. t.q(pg_dsn) .. " -qAt -c " .. t.q("CREATE DATABASE " .. name), true)
    assert.are.equal(0, rc, out)
    return (pg_dsn:gsub("dbname=%S+", "dbname=" .. name))
  end

  -- Rows of sql as lists of columns (tab-separated psql output); with
  -- may_fail, nil when psql fails (a table not there yet).
  local function query(dsn, sql, may_fail)
    local rc, out = t.sh("psql " .. t.q(dsn) .. " -qAt -F '\t' -c " .. t.q(sql), true)
    if may_fail and rc ~= 0 then return nil end
    assert.are.equal(0, rc, out)
    local rows = {}
    for line in out:gmatch("[^\n]+") do
      local cols = {}
      for c in (line .. "\t"):gmatch("([^\t]*)\t") do cols[#cols + 1] = c end
      rows[#rows + 1] = cols
    end
    return rows
  end

  -- t.config with the store on PostgreSQL, its DSN from the environment
  -- as a deployment would give it.
  local function config(opts)
    local path = t.config(dir, mock, opts)
    local text = t.read(path):gsub("store: [^\n]*", 'store: { type: postgres, dsn: "${EDDY_PG_DSN}" }')
    t.write(path, text)
    return path
  end

  local function eddy_cmd(dsn, conf, timeout)
    return "EDDY_PG_DSN=" .. t.q(dsn) .. " timeout " .. timeout .. " " .. t.q(t.bin) ..
      " run -c " .. t.q(conf) .. " --exit-at-end"
  end

  setup(function()
    dir = t.tmpdir()
    mock = t.start_mock(dir, { "orders", "eddy.dlq", "restart", "alerts" })
    t.handlers(dir, { ["orders.lua"] = t.ORDERS_HANDLER })
    pg_dsn, pg_dir = t.start_pg()
  end)

  teardown(function()
    t.stop_mock(mock)
    t.stop_pg(pg_dir)
    t.sh("rm -rf " .. t.q(dir))
  end)

  it("upserts snapshots, deletes on tombstones, dead-letters bad envelopes, commits", function()
    local records, expect = t.snapshot_stream()
    t.produce(mock, "orders", records, dir)

    local dsn = database("basic")
    local conf = config({ group = "g-basic" })
    local rc, out = t.sh(eddy_cmd(dsn, conf, 60), true)
    assert.are.equal(0, rc, out)

    local got = {}
    for _, r in ipairs(query(dsn, 'select key, value, topic, partition, "offset" from orders')) do
      got[r[1]] = cjson.decode(r[2]).version
      assert.are.equal("orders", r[3])
      assert.are.equal("0", r[4])
      assert.truthy(tonumber(r[5]) < #records)
    end
    assert.are.same(expect, got)
    -- jsonb: the stored value is the event's data, queryable in SQL
    assert.are.same({ { "4", "40" } },
      query(dsn, "select value->>'version', value->'lines'->0->>'quantity' from orders where key = 'ORD-1'"))

    local dlq = t.consume(mock, "eddy.dlq")
    assert.are.equal(4, #dlq)
    for _, m in ipairs(dlq) do assert.are.equal("envelope", m.headers["eddy.error.stage"]) end
    assert.are.same({ #records }, t.committed(mock, "g-basic", "orders", 1))
  end)

  it("keeps retrying while the server is down, and loses nothing once it is back", function()
    local records, expect = t.churn_stream(4000, 300)
    t.produce(mock, "restart", records, dir)
    t.handlers(dir .. "/slow", { ["orders.lua"] = t.slow_handler(0.0008) })
    local dsn = database("restart")
    local conf = config({ group = "g-restart", topics = { "restart" }, batch = 200,
                          handlers = dir .. "/slow/handlers" })
    local run = t.spawn(dir, "restart", eddy_cmd(dsn, conf, 60))
    local committed = 0
    for _ = 1, 400 do
      committed = t.committed(mock, "g-restart", "restart", 1)[1] or 0
      if committed > 0 then break end
      t.sleep(0.05)
    end
    local rc, out = t.sh("tests/tools/pg-stop --keep " .. t.q(pg_dir), true)
    assert.are.equal(0, rc, out)
    local down = true
    finally(function()
      -- the other tests need the server, whatever became of this one
      if down then t.sh("tests/tools/pg-start " .. t.q(pg_dir), true) end
    end)
    -- a batch the server made durable before it stopped may still have
    -- its offsets sent: what is committed a moment later stays so
    t.sleep(1)
    local at_stop = t.committed(mock, "g-restart", "restart", 1)[1]
    assert.truthy(committed > 0 and at_stop < #records, "stopped at offset " .. at_stop)
    t.sleep(2)
    -- nothing is committed while the server is away
    assert.are.same({ at_stop }, t.committed(mock, "g-restart", "restart", 1))
    rc, out = t.sh("tests/tools/pg-start " .. t.q(pg_dir), true)
    assert.are.equal(0, rc, out)
    down = false

    assert.are.equal(0, run.wait(), run.log())
    local log = run.log()
    assert.matches("retrying the batch", log, 1, true)
    assert.matches("postgres: ", log, 1, true)
    local got = {}
    for _, r in ipairs(query(dsn, "select key, value from orders")) do
      got[r[1]] = cjson.decode(r[2]).version
    end
    assert.are.same(expect, got)
    assert.are.same({ #records }, t.committed(mock, "g-restart", "restart", 1))
  end)

  it("keeps the alert outbox in PostgreSQL: delivered once, not again on a replay", function()
    local recv = t.start_receiver(dir, "receiver")
    local url = recv.url
    t.handlers(dir .. "/alerting", { ["watch.lua"] = [[
return {
  on_event = function(ev, ctx)
    if ev.data.quantity >= 30 then
      ctx.alert{ severity = "warning", key = ev.key, summary = "big order " .. ev.key }
    end
    ctx.upsert("seen", ev.key, { q = ev.data.quantity })
  end,
}
]] })
    local records = {}
    for i = 1, 6 do records[#records + 1] = { "ORD-" .. i, t.event("ORD-" .. i, i) } end
    t.produce(mock, "alerts", records, dir)
    local dsn = database("alerts")
    local function run(group)
      local conf = config({ group = group, topics = { "alerts" },
                            handlers = dir .. "/alerting/handlers", extra = table.concat({
        "alerts:",
        "  default_sink: chat",
        "  sinks:",
        "    chat: { type: slack, url: \"" .. url .. "/slack\" }",
      }, "\n") .. "\n" })
      local r = t.spawn(dir, group, "EDDY_PG_DSN=" .. t.q(dsn) .. " " .. t.q(t.bin) .. " run -c " .. t.q(conf))
      -- every event handled and committed, then every alert sent
      for _ = 1, 400 do
        if t.committed(mock, group, "alerts", 1)[1] == #records then break end
        t.sleep(0.05)
      end
      assert.are.same({ #records }, t.committed(mock, group, "alerts", 1))
      for _ = 1, 400 do
        local left = query(dsn, "select count(*) from eddy_outbox where state = 'pending'", true)
        if left and left[1][1] == "0" then break end
        t.sleep(0.05)
      end
      t.sh("kill -TERM " .. r.pid)
      assert.are.equal(0, r.wait(), r.log())
    end
    run("g-alerts")
    run("g-alerts-replay") -- the same events again: deduplicated in the outbox
    t.sh("kill " .. recv.pid)
    local delivered = 0
    for line in (t.read(recv.deliveries) or ""):gmatch("[^\n]+") do
      if cjson.decode(line).status == 200 then delivered = delivered + 1 end
    end
    assert.are.equal(4, delivered) -- ORD-3 to ORD-6: quantity 30 and more
    assert.are.same({ { "4", "delivered", "1" } },
      query(dsn, "select count(*), min(state), max(attempts) from eddy_outbox"))
  end)

  it("refuses to start without a server to connect to", function()
    local conf = config({ group = "g-none" })
    local rc, out = t.sh(eddy_cmd("host=" .. dir .. "/nowhere port=1", conf, 30), true)
    assert.are.equal(2, rc, out)
    assert.matches("postgres: connect: ", out, 1, true)
  end)
end)
