-- eddy run against a mock Kafka cluster: state in SQLite, dead letters with
-- their headers, committed offsets, and a restart after kill -9.
local t = require "eddy_test"
local cjson = require "cjson"

describe("eddy run", function()
  local dir, mock

  setup(function()
    dir = t.tmpdir()
    mock = t.start_mock(dir, { "orders", "orders.big:3", "eddy.dlq", "restart", "bad",
                               "refused", "dlq.refused", "term", "binary", "locked", "shared:4",
                               "prefilled", "jsonlog", "counted", "recounted", "nudged:4" })
    t.handlers(dir, { ["orders.lua"] = t.ORDERS_HANDLER })
  end)

  teardown(function()
    t.stop_mock(mock)
    t.sh("rm -rf " .. t.q(dir))
  end)

  it("upserts snapshots, deletes on tombstones, dead-letters bad envelopes, commits", function()
    local records, expect = t.snapshot_stream()
    t.produce(mock, "orders", records, dir)

    local conf = t.config(dir, mock, { group = "g-basic" })
    local rc, out = t.eddy("run -c " .. t.q(conf) .. " --exit-at-end")
    assert.are.equal(0, rc, out)

    local rows = t.query(dir .. "/state.db", "select key, value, topic, partition, \"offset\" from orders")
    local got = {}
    for _, r in ipairs(rows) do
      got[r.key] = cjson.decode(r.value).version
      assert.are.equal("orders", r.topic)
      assert.are.equal(0, r.partition)
    end
    assert.are.same(expect, got)

    local dlq = t.consume(mock, "eddy.dlq")
    assert.are.equal(4, #dlq)
    local reasons = {}
    for _, m in ipairs(dlq) do
      assert.are.equal("envelope", m.headers["eddy.error.stage"])
      assert.are.equal("orders", m.headers["eddy.error.topic"])
      assert.are.equal("0", m.headers["eddy.error.partition"])
      assert.truthy(tonumber(m.headers["eddy.error.offset"]) >= 120)
      assert.truthy(m.headers["eddy.error.time"]:match("^%d%d%d%d%-%d%d%-%d%dT"))
      reasons[m.key] = m.headers["eddy.error.reason"]
    end
    assert.matches("does not equal id", reasons["ORD-1"])
    assert.matches("specversion", reasons["ORD-2"])
    assert.matches("not JSON", reasons["ORD-3"])
    assert.matches("0.3", reasons["ORD-4"])
    -- the original value is kept
    for _, m in ipairs(dlq) do
      if m.key == "ORD-3" then assert.are.equal("this is not json", m.value) end
    end

    assert.are.same({ #records }, t.committed(mock, "g-basic", "orders", 1))
  end)

  it("spreads over partitions and commits each", function()
    local records = {}
    for k = 1, 90 do records[#records + 1] = { "ORD-" .. k, t.event("ORD-" .. k, 1) } end
    t.produce(mock, "orders.big", records, dir)
    local conf = t.config(dir, mock, { group = "g-big", topics = { "orders.big" },
                                       store = dir .. "/big.db" })
    local rc, out = t.eddy("run -c " .. t.q(conf) .. " --exit-at-end")
    assert.are.equal(0, rc, out)
    local n = t.query(dir .. "/big.db", "select count(*) as n from orders")[1].n
    assert.are.equal(90, n)
    local offs = t.committed(mock, "g-big", "orders.big", 3)
    assert.are.equal(90, offs[1] + offs[2] + offs[3])
  end)

  it("gives a new SQLite store pages of store.page_kib; an existing one keeps its own", function()
    t.produce(mock, "orders.pages", { { "ORD-1", t.event("ORD-1", 1) } }, dir)
    local function run(group, db, env)
      local conf = t.config(dir, mock, { group = group, topics = { "orders.pages" }, store = db })
      local rc, out = t.sh(env .. " timeout 60 " .. t.q(t.bin) .. " run -c " .. t.q(conf) ..
        " --exit-at-end", true)
      assert.are.equal(0, rc, out)
      return t.query(db, "pragma page_size")[1].page_size, t.query(db, "select key from orders")
    end
    local size, rows = run("g-pages-1", dir .. "/pages4.db", "")
    assert.are.equal(4096, size)
    assert.are.same({ { key = "ORD-1" } }, rows)
    size, rows = run("g-pages-2", dir .. "/pages16.db", "EDDY_STORE_PAGE_KIB=16")
    assert.are.equal(16384, size)
    assert.are.same({ { key = "ORD-1" } }, rows)
    size, rows = run("g-pages-3", dir .. "/pages4.db", "EDDY_STORE_PAGE_KIB=16")
    assert.are.equal(4096, size)
    assert.are.same({ { key = "ORD-1" } }, rows)
  end)

  it("dead-letters a failing handler after its retries, naming handler and line", function()
    t.handlers(dir .. "/h2", { ["picky.lua"] = [[
return {
  on_event = function(ev, ctx)
    if ev.data.quantity > 25 then
      error("quantity too large: " .. ev.data.quantity)
    end
    ctx.upsert("orders", ev.key, ev.data)
  end,
}
]] })
    t.produce(mock, "bad", { { "ORD-1", t.event("ORD-1", 1) }, { "ORD-2", t.event("ORD-2", 3) },
                             { "ORD-3", t.event("ORD-3", 2) } }, dir)
    local conf = t.config(dir, mock, { group = "g-bad", topics = { "bad" }, dlq = "eddy.dlq",
                                       handlers = dir .. "/h2/handlers",
                                       store = dir .. "/bad.db", retries = 2 })
    local before = #t.consume(mock, "eddy.dlq")
    local rc, out = t.eddy("run -c " .. t.q(conf) .. " --exit-at-end")
    assert.are.equal(0, rc, out)
    local dlq = t.consume(mock, "eddy.dlq")
    assert.are.equal(before + 1, #dlq)
    local m = dlq[#dlq]
    assert.are.equal("ORD-2", m.key)
    assert.are.equal("handler", m.headers["eddy.error.stage"])
    assert.are.equal("picky.lua", m.headers["eddy.error.handler"])
    assert.matches("picky.lua:4: quantity too large: 30", m.headers["eddy.error.reason"])
    assert.are.equal("bad", m.headers["eddy.error.topic"])
    assert.matches("attempt 2 of 3", out, 1, true)
    local keys = {}
    for _, r in ipairs(t.query(dir .. "/bad.db", "select key from orders order by key")) do
      keys[#keys + 1] = r.key
    end
    assert.are.same({ "ORD-1", "ORD-3" }, keys)
    assert.are.same({ 3 }, t.committed(mock, "g-bad", "bad", 1))
  end)

  it("ends in the same state after kill -9 and a restart, nothing missing", function()
    local records, expect = t.churn_stream(6000, 500)
    t.produce(mock, "restart", records, dir)
    -- slow enough that the kill lands mid-stream
    t.handlers(dir .. "/slow", { ["orders.lua"] = t.slow_handler(0.0003) })
    local conf = t.config(dir, mock, { group = "g-restart", topics = { "restart" },
                                       handlers = dir .. "/slow/handlers",
                                       store = dir .. "/restart.db", batch = 200 })
    local first = t.spawn(dir, "first", t.q(t.bin) .. " run -c " .. t.q(conf))
    local committed = 0
    for _ = 1, 400 do
      t.sleep(0.05)
      committed = t.committed(mock, "g-restart", "restart", 1)[1]
      if committed > 0 then break end
    end
    t.sh("kill -9 " .. first.pid)
    assert.are.equal(137, first.wait())
    assert.truthy(committed > 0 and committed < #records,
                  "killed at offset " .. committed .. ": " .. first.log())

    local rc, out = t.eddy("run -c " .. t.q(conf) .. " --exit-at-end", 120)
    assert.are.equal(0, rc, out)
    local got = {}
    for _, r in ipairs(t.query(dir .. "/restart.db", "select key, value from orders")) do
      got[r.key] = cjson.decode(r.value).version
    end
    assert.are.same(expect, got)
    assert.are.same({ #records }, t.committed(mock, "g-restart", "restart", 1))
  end)

  it("does not commit past a dead letter the broker refused, and handles it again", function()
    t.produce(mock, "refused", { { "ORD-1", t.event("ORD-1", 1) }, { "ORD-2", "not json" },
                                 { "ORD-3", t.event("ORD-3", 1) } }, dir)
    local conf = t.config(dir, mock, { group = "g-refused", topics = { "refused" },
                                       dlq = "dlq.refused", store = dir .. "/refused.db" })
    -- 29: TOPIC_AUTHORIZATION_FAILED, a permanent error for the message
    t.fail_produce(dir, 2, 29)
    local run = t.spawn(dir, "refused", t.q(t.bin) .. " run -c " .. t.q(conf))
    for _ = 1, 200 do
      if t.committed(mock, "g-refused", "refused", 1)[1] == 3 then break end
      t.sleep(0.05)
    end
    local _, metrics = t.http_get(t.http_port(run), "/metrics")
    t.sh("kill -TERM " .. run.pid)
    assert.are.equal(0, run.wait(), run.log())
    local out = run.log()
    assert.matches("dead letter for refused 0/1 not delivered", out, 1, true)
    local refused = tonumber(metrics:match('\neddy_delivery_failures_total{kind="dead_letter"} (%d+)'))
    assert.truthy(refused and refused >= 1, metrics)
    local dlq = t.consume(mock, "dlq.refused")
    assert.are.equal(1, #dlq)
    assert.are.equal("ORD-2", dlq[1].key)
    assert.are.same({ 3 }, t.committed(mock, "g-refused", "refused", 1))
    local n = t.query(dir .. "/refused.db", "select count(*) as n from orders")[1].n
    assert.are.equal(2, n)
  end)

  it("on SIGTERM finishes the batch, commits what it handled and exits 0", function()
    local records = {}
    for i = 1, 3000 do records[#records + 1] = { "ORD-" .. i, t.event("ORD-" .. i, 1) } end
    t.produce(mock, "term", records, dir)
    t.handlers(dir .. "/term", { ["slow.lua"] = t.slow_handler(0.001) })
    local conf = t.config(dir, mock, { group = "g-term", topics = { "term" }, batch = 100,
                                       handlers = dir .. "/term/handlers",
                                       store = dir .. "/term.db" })
    local run = t.spawn(dir, "term", t.q(t.bin) .. " run -c " .. t.q(conf))
    for _ = 1, 400 do
      if t.committed(mock, "g-term", "term", 1)[1] > 0 then break end
      t.sleep(0.05)
    end
    t.sh("kill -TERM " .. run.pid)
    local rc = run.wait()
    local log = run.log()
    assert.are.equal(0, rc, log)
    assert.matches("stopped: ", log, 1, true)
    local committed = t.committed(mock, "g-term", "term", 1)[1]
    local rows = t.query(dir .. "/term.db", "select count(*) as n from orders")[1].n
    assert.truthy(committed < 3000, "stopped at " .. committed)
    assert.are.equal(rows, committed)
  end)

  it("reads binary-mode CloudEvents (ce_ headers, the value is the data)", function()
    local data = '{"order_id":"ORD-B1","quantity":5,"lines":[]}'
    t.write(dir .. "/binary.json", data)
    local rc, out = t.sh("kcat -P -b " .. mock.bootstrap .. " -t binary -k ORD-B1" ..
      " -H ce_specversion=1.0 -H ce_id=ORD-B1 -H ce_source=urn:test" ..
      " -H ce_type=" .. t.TYPE .. " -H ce_tenant=" .. t.TENANT ..
      " -H ce_time=2025-01-14T12:30:00Z -H content-type=application/json " ..
      t.q(dir .. "/binary.json"), true)
    assert.are.equal(0, rc, out)
    t.produce(mock, "binary", { { "ORD-B2", nil } }, dir) -- a tombstone of another key
    local conf = t.config(dir, mock, { group = "g-binary", topics = { "binary" },
                                       store = dir .. "/binary.db" })
    rc, out = t.eddy("run -c " .. t.q(conf) .. " --exit-at-end")
    assert.are.equal(0, rc, out)
    local rows = t.query(dir .. "/binary.db", "select key, value from orders")
    assert.are.equal(1, #rows)
    assert.are.equal("ORD-B1", rows[1].key)
    assert.are.equal(data, rows[1].value)
    assert.are.same({ 2 }, t.committed(mock, "g-binary", "binary", 1))
  end)

  it("lets ctx.get read every earlier write, committed or still being committed", function()
    -- batches of 50: the store commits one while the next is handled, and
    -- each event counts on the one before it of its key
    local records, expect = {}, {}
    for i = 1, 3000 do
      local key = "K-" .. (i % 7)
      records[#records + 1] = { key, t.event(key, i) }
      if i % 700 == 0 then expect[key] = nil
      else expect[key] = { n = (expect[key] and expect[key].n or 0) + 1, last = i } end
    end
    t.produce(mock, "counted", records, dir)
    t.handlers(dir .. "/counted", { ["count.lua"] = [[
      return {
        on_event = function(ev, ctx)
          local c = ctx.get("counts", ev.key)
          if ev.data.version % 700 == 0 then return ctx.delete("counts", ev.key) end
          ctx.upsert("counts", ev.key, { n = (c and c.n or 0) + 1, last = ev.data.version })
        end,
      }
    ]] })
    local conf = t.config(dir, mock, { group = "g-counted", topics = { "counted" }, batch = 50,
                                       handlers = dir .. "/counted/handlers",
                                       store = dir .. "/counted.db" })
    local rc, out = t.eddy("run -c " .. t.q(conf) .. " --exit-at-end")
    assert.are.equal(0, rc, out)
    local got = {}
    for _, r in ipairs(t.query(dir .. "/counted.db", "select key, value from counts")) do
      got[r.key] = cjson.decode(r.value)
    end
    assert.are.same(expect, got)
    assert.are.same({ 3000 }, t.committed(mock, "g-counted", "counted", 1))
  end)

  it("wakes the fetcher each time it drains a full fetch queue", function()
    -- a 16 KiB queue holds ~30 of these events: librdkafka 2.0 alone would
    -- look at a full queue again once a second
    local records = {}
    for i = 1, 1200 do
      local key = "ORD-" .. i
      records[#records + 1] = { key, t.event(key, 1) }
    end
    -- message sets of 10 records: the mock cluster answers a fetch with one
    -- set a partition, ~20 KiB for the four
    t.produce(mock, "nudged", records, dir, "-X batch.num.messages=10")
    local conf = t.config(dir, mock, { group = "g-nudged", topics = { "nudged" }, log_level = "debug",
                                       store = dir .. "/nudged.db" })
    t.write(conf, (t.read(conf):gsub("kafka:\n", "kafka:\n  queued.max.messages.kbytes: 16\n", 1)))
    local rc, out = t.eddy("run -c " .. t.q(conf) .. " --exit-at-end")
    assert.are.equal(0, rc, out)
    assert.matches("stopped: 1200 records, 1200 handled", out)
    local nudges = tonumber(out:match("; (%d+) fetch nudges"))
    -- one a fill at most: the queue filled about 40 times
    assert.truthy(nudges and nudges >= 10 and nudges <= 60, out:match("time: [^\n]*") or out)
    assert.are.equal(1200, #t.query(dir .. "/nudged.db", "select key from orders"))
  end)

  it("redoes a batch whose commit failed and the batch handled meanwhile, counting nothing twice", function()
    local records, expect = {}, {}
    for i = 1, 4000 do
      local key = "K-" .. (i % 7)
      records[#records + 1] = { key, t.event(key, i) }
      expect[key] = (expect[key] or 0) + 1
    end
    t.produce(mock, "recounted", records, dir)
    t.handlers(dir .. "/recounted", { ["count.lua"] = [[
      local clock = os.clock
      return {
        on_event = function(ev, ctx)
          local t0 = clock()
          while clock() - t0 < 0.001 do end
          local c = ctx.get("counts", ev.key)
          ctx.upsert("counts", ev.key, { n = (c and c.n or 0) + 1 })
        end,
      }
    ]] })
    local db = dir .. "/recounted.db"
    local conf = t.config(dir, mock, { group = "g-recounted", topics = { "recounted" }, batch = 50,
                                       handlers = dir .. "/recounted/handlers", store = db })
    local run = t.spawn(dir, "recounted", t.q(t.bin) .. " run -c " .. t.q(conf) .. " --exit-at-end")
    t.wait_for("a first commit", function()
      return (t.committed(mock, "g-recounted", "recounted", 1)[1] or 0) > 0
    end, 30, run.log)
    -- another writer takes the database for longer than the store's busy
    -- timeout (5 s) while batches are being handled and committed
    t.sh("(echo '.timeout 10000'; echo 'create table if not exists hold(a);'; " ..
         "echo 'begin immediate;'; echo 'insert into hold values (1);'; sleep 7; echo 'commit;')" ..
         " | sqlite3 " .. t.q(db) .. " >/dev/null 2>&1")
    local rc
    t.wait_for("eddy to end", function() rc = run.wait(); return rc ~= nil end, 90, run.log)
    assert.are.equal(0, rc, run.log())
    assert.matches("database is locked", run.log(), 1, true)
    assert.matches("retrying the batch", run.log(), 1, true)
    local got = {}
    for _, r in ipairs(t.query(db, "select key, value from counts")) do
      got[r.key] = cjson.decode(r.value).n
    end
    assert.are.same(expect, got)
    assert.are.same({ 4000 }, t.committed(mock, "g-recounted", "recounted", 1))
  end)

  it("abandons a batch the store cannot take, commits nothing of it, and does it again", function()
    local records = {}
    for i = 1, 50 do records[#records + 1] = { "ORD-" .. i, t.event("ORD-" .. i, i) } end
    t.produce(mock, "locked", records, dir)
    local db = dir .. "/locked.db"
    t.sh("sqlite3 " .. t.q(db) .. " 'pragma journal_mode=wal; create table hold(a)' >/dev/null")
    -- another writer holds the database longer than the store's busy timeout (5 s)
    -- after the group's first join (~3 s)
    t.sh("(echo 'begin immediate;'; echo 'insert into hold values (1);'; sleep 12; echo 'commit;')" ..
      " | sqlite3 " .. t.q(db) .. " >/dev/null 2>&1 &")
    local conf = t.config(dir, mock, { group = "g-locked", topics = { "locked" }, store = db })
    local rc, out = t.eddy("run -c " .. t.q(conf) .. " --exit-at-end", 90)
    assert.are.equal(0, rc, out)
    assert.matches("database is locked", out, 1, true)
    assert.matches("retrying the batch", out, 1, true)
    local rows = t.query(db, "select key, value from orders")
    assert.are.equal(50, #rows)
    for _, r in ipairs(rows) do
      assert.are.equal(tonumber(r.key:match("%d+")), cjson.decode(r.value).version)
    end
    assert.are.same({ 50 }, t.committed(mock, "g-locked", "locked", 1))
  end)

  it("shares a topic with a second process through rebalances, nothing lost", function()
    local records, expect = {}, {}
    for i = 1, 2000 do
      local key = "ORD-" .. (i % 300)
      records[#records + 1] = { key, t.event(key, i) }
      expect[key] = i
    end
    t.produce(mock, "shared", records, dir)
    t.handlers(dir .. "/shared", { ["orders.lua"] = t.slow_handler(0.002) })
    local conf = t.config(dir, mock, { group = "g-shared", topics = { "shared" }, batch = 50,
                                       handlers = dir .. "/shared/handlers",
                                       store = dir .. "/shared.db" })
    local a = t.spawn(dir, "shared-a", t.q(t.bin) .. " run -c " .. t.q(conf))
    for _ = 1, 400 do
      local offs = t.committed(mock, "g-shared", "shared", 4)
      if (offs[1] or 0) + (offs[2] or 0) + (offs[3] or 0) + (offs[4] or 0) > 0 then break end
      t.sleep(0.05)
    end
    -- b joins (a gives up partitions), ends its share and leaves (a takes them back)
    local rc, out = t.eddy("run -c " .. t.q(conf) .. " --exit-at-end", 120)
    assert.are.equal(0, rc, out)
    assert.matches("assigned", out, 1, true)
    local total = 0
    for _ = 1, 600 do
      local offs = t.committed(mock, "g-shared", "shared", 4)
      total = 0
      for p = 1, 4 do total = total + math.max(offs[p] or 0, 0) end
      if total == #records then break end
      t.sleep(0.1)
    end
    t.sh("kill -TERM " .. a.pid)
    assert.are.equal(0, a.wait(), a.log())
    local _, assigned = a.log():gsub("assigned %d+ partition", "")
    assert.truthy(assigned >= 2, a.log())
    assert.are.equal(#records, total)
    local got = {}
    for _, r in ipairs(t.query(dir .. "/shared.db", "select key, value from orders")) do
      got[r.key] = cjson.decode(r.value).version
    end
    assert.are.same(expect, got)
  end)

  describe("a new group on a topic that already holds events", function()
    local records = {}
    setup(function()
      for k = 1, 300 do records[#records + 1] = { "ORD-" .. k, t.event("ORD-" .. k, 1) } end
      t.produce(mock, "prefilled", records, dir)
    end)

    it("starts at the earliest retained event when auto.offset.reset is not set", function()
      local conf = t.config(dir, mock, { group = "g-fresh", topics = { "prefilled" },
                                         store = dir .. "/fresh.db", offset_reset = false })
      assert.is_nil(t.read(conf):match("auto.offset.reset:"))
      local rc, out = t.eddy("run -c " .. t.q(conf) .. " --exit-at-end")
      assert.are.equal(0, rc, out)
      assert.matches("prefilled/0: no committed offset for group g%-fresh: starting at the " ..
        "earliest retained record, offset 0 %(300 records; kafka.auto.offset.reset: earliest%)", out)
      assert.matches("stopped: 300 records, 300 handled", out)
      assert.are.equal(300, t.query(dir .. "/fresh.db", "select count(*) as n from orders")[1].n)
      assert.are.same({ 300 }, t.committed(mock, "g-fresh", "prefilled", 1))

      -- the group has committed offsets now: no start is logged again
      rc, out = t.eddy("run -c " .. t.q(conf) .. " --exit-at-end")
      assert.are.equal(0, rc, out)
      assert.is_nil(out:match("no committed offset"), out)
      assert.matches("stopped: 0 records", out)
    end)

    it("skips them with an explicit latest, and says so", function()
      local conf = t.config(dir, mock, { group = "g-latest", topics = { "prefilled" },
                                         store = dir .. "/latest.db", offset_reset = "latest" })
      local rc, out = t.eddy("run -c " .. t.q(conf) .. " --exit-at-end")
      assert.are.equal(0, rc, out)
      assert.matches("prefilled/0: no committed offset for group g%-latest: starting at offset " ..
        "300 %(kafka.auto.offset.reset: latest%), the 300 records already there are skipped", out)
      assert.matches("stopped: 0 records", out)
    end)

    it("fetches at most 1 MiB a response unless message.max.bytes asks for more", function()
      local conf = t.config(dir, mock, { group = "g-big", topics = { "prefilled" },
                                         store = dir .. "/big.db" })
      local rc, out = t.eddy("config -c " .. t.q(conf))
      assert.matches('"fetch.max.bytes": "1048576"', out, 1, true)
      -- librdkafka refuses a fetch.max.bytes below message.max.bytes
      t.write(conf, (t.read(conf):gsub("kafka:\n", "kafka:\n  message.max.bytes: 2000000\n", 1)))
      rc, out = t.eddy("config -c " .. t.q(conf))
      assert.is_nil(out:find("fetch.max.bytes", 1, true), out)
      rc, out = t.eddy("run -c " .. t.q(conf) .. " --exit-at-end")
      assert.are.equal(0, rc, out)
      assert.matches("stopped: 300 records, 300 handled", out)
    end)
  end)

  it("logs JSON lines off a terminal by default, with the record and handler of each", function()
    local records = {}
    for k = 1, 5 do records[#records + 1] = { "ORD-" .. k, t.event("ORD-" .. k, k) } end
    records[#records + 1] = { "ORD-6", "not json" }
    t.produce(mock, "jsonlog", records, dir)
    t.handlers(dir .. "/logging", { ["orders.lua"] = [[
local failed = false
return {
  on_event = function(ev, ctx)
    if ev.key == "ORD-3" and not failed then
      failed = true
      error("once")
    end
    ctx.log("info", "saw " .. ev.key, { quantity = ev.data.quantity })
  end,
}
]] })
    local conf = t.config(dir, mock, { group = "g-jsonlog", topics = { "jsonlog" }, log_format = "auto",
                                       handlers = dir .. "/logging/handlers", store = dir .. "/jsonlog.db" })
    local rc, out = t.sh(t.q(t.bin) .. " run -c " .. t.q(conf) .. " --exit-at-end 2>&1 >/dev/null")
    assert.are.equal(0, rc, out)
    local lines, saw, dead, retry = 0, {}, nil, nil
    for line in out:gmatch("[^\n]+") do
      local ok, o = pcall(cjson.decode, line)
      assert(ok and type(o) == "table", "not a JSON line: " .. line)
      assert.matches("^%d%d%d%d%-%d%d%-%d%dT", o.ts)
      assert.truthy(o.level and o.msg, line)
      lines = lines + 1
      if o.msg:match("^orders.lua: saw ") then
        assert.are.equal("orders.lua", o.handler)
        assert.are.equal("jsonlog", o.topic)
        assert.are.equal(t.TENANT, o.tenant)
        assert.matches("^c0ffee00%-", o.correlation_id)
        assert.truthy(o.fields.quantity and o.offset >= 0)
        saw[#saw + 1] = o.offset
      elseif o.msg:match("^dead letter") then
        dead = o
      elseif o.msg:match("^orders.lua failed on") then
        retry = o
      end
    end
    assert.truthy(lines > 5)
    assert.are.equal(5, #saw)
    assert.are.equal(5, dead.offset)
    assert.are.equal(0, dead.partition)
    assert.are.equal("jsonlog", dead.topic)
    assert.are.same({ "orders.lua", "jsonlog", 0, 2, t.TENANT },
                    { retry.handler, retry.topic, retry.partition, retry.offset, retry.tenant })
    assert.matches("^c0ffee00%-", retry.correlation_id)
  end)
end)
