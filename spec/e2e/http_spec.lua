-- The HTTP endpoint of eddy run: /metrics counts what happened (and
-- promtool accepts it), /livez and /healthz, /readyz as the partitions are
-- assigned and as the store goes away and comes back.
local t = require "eddy_test"

-- The value of one sample of a scrape, or nil.
local function sample(text, series)
  for line in text:gmatch("[^\n]+") do
    if line:sub(1, #series + 1) == series .. " " then return tonumber(line:sub(#series + 2)) end
  end
end

describe("eddy run's HTTP endpoint", function()
  local dir, mock

  setup(function()
    dir = t.tmpdir()
    mock = t.start_mock(dir, { "ops", "eddy.dlq", "held" })
    t.handlers(dir, { ["orders.lua"] = t.ORDERS_HANDLER })
    -- an alert for every tenth order, to a sink nobody listens on; ORD-7 fails
    t.handlers(dir .. "/alerting", { ["orders.lua"] = t.ORDERS_HANDLER, ["big.lua"] = [[
return {
  on_event = function(ev, ctx)
    if ev.key == "ORD-7" then error("no ORD-7 today") end
    if ev.data and ev.data.order_id:match("0$") then
      ctx.alert{ summary = "order " .. ev.key, key = ev.key }
    end
  end,
}
]] })
  end)

  teardown(function()
    t.stop_mock(mock)
    t.sh("rm -rf " .. t.q(dir))
  end)

  it("counts records, dead letters, writes and lag in /metrics, checked by promtool", function()
    local records = {}
    for k = 1, 40 do records[#records + 1] = { "ORD-" .. k, t.event("ORD-" .. k, 1) } end
    records[#records + 1] = { "ORD-41", "not json" }
    records[#records + 1] = { "ORD-42", t.event("ORD-999", 1) } -- key is not the id
    t.produce(mock, "ops", records, dir)
    local conf = t.config(dir, mock, { group = "g-ops", topics = { "ops" }, store = dir .. "/ops.db",
      handlers = dir .. "/alerting/handlers",
      extra = "alerts:\n  sinks:\n    ops: { type: webhook, url: \"http://127.0.0.1:1/hook\" }\n" })
    local run = t.spawn(dir, "ops", t.q(t.bin) .. " run -c " .. t.q(conf))
    local port = t.http_port(run)

    local text
    for _ = 1, 200 do
      local code
      code, text = t.http_get(port, "/metrics")
      assert.are.equal(200, code)
      if sample(text, 'eddy_offset_commits_total') and
         (sample(text, 'eddy_consumer_lag{topic="ops",partition="0"}') or 1) == 0 and
         (sample(text, 'eddy_records_total{topic="ops",outcome="handled"}') or 0) == 39 then
        break
      end
      t.sleep(0.1)
    end
    assert.are.equal(39, sample(text, 'eddy_records_total{topic="ops",outcome="handled"}'), text)
    assert.are.equal(3, sample(text, 'eddy_records_total{topic="ops",outcome="dead_lettered"}'))
    assert.are.equal(2, sample(text, 'eddy_dead_letters_total{stage="envelope"}'))
    assert.are.equal(1, sample(text, 'eddy_dead_letters_total{stage="handler"}'))
    assert.are.equal(39, sample(text, 'eddy_store_upserts_total'))
    -- handlers run in name order: big.lua first, orders.lua not for ORD-7;
    -- ORD-7 is tried twice (handler.retries: 1)
    assert.are.equal(41, sample(text, 'eddy_handler_calls_total{handler="big.lua"}'))
    assert.are.equal(2, sample(text, 'eddy_handler_errors_total{handler="big.lua"}'))
    assert.are.equal(39, sample(text, 'eddy_handler_calls_total{handler="orders.lua"}'))
    assert.are.equal(0, sample(text, 'eddy_handler_errors_total{handler="orders.lua"}'))
    assert.are.equal(0, sample(text, 'eddy_handler_limit_stops_total{handler="orders.lua",kind="cpu"}'))
    assert.are.equal(39, sample(text, 'eddy_handler_duration_seconds_count{handler="orders.lua"}'))
    assert.are.equal(1, sample(text, 'eddy_handler_retries_total'))
    assert.are.equal(0, sample(text, 'eddy_consumer_lag{topic="ops",partition="0"}'))
    assert.truthy(sample(text, 'eddy_offset_commits_total') >= 1)
    assert.are.equal(0, sample(text, 'eddy_offset_commit_failures_total'))
    assert.truthy(sample(text, 'eddy_store_transaction_duration_seconds_count') >= 1)
    assert.are.equal(1, sample(text, 'eddy_rebalances_total{kind="assign"}'))
    -- 42 small records never fill the fetch queue
    assert.are.equal(0, sample(text, 'eddy_fetch_nudges_total'))
    assert.are.equal(4, sample(text, 'eddy_alerts_raised_total'))
    -- the sender's first attempts fail: nothing listens; the four alerts
    -- stay in the outbox, counted once a second
    for _ = 1, 100 do
      if (sample(text, 'eddy_alert_deliveries_total{sink="ops",outcome="retried"}') or 0) >= 1 and
         sample(text, 'eddy_alert_outbox_pending') == 4 then
        break
      end
      t.sleep(0.1)
      _, text = t.http_get(port, "/metrics")
    end
    assert.truthy(sample(text, 'eddy_alert_deliveries_total{sink="ops",outcome="retried"}') >= 1, text)
    assert.are.equal(0, sample(text, 'eddy_alert_deliveries_total{sink="ops",outcome="delivered"}'))
    assert.are.equal(4, sample(text, 'eddy_alert_outbox_pending'))
    assert.truthy(sample(text, 'eddy_alert_requests_total{sink="ops"}') >= 1)
    assert.matches('eddy_build_info{version="[%d.]+",luajit="LuaJIT [^"]+",librdkafka="[%d.]+"} 1', text)

    t.write(dir .. "/scrape.txt", text)
    local rc, out = t.sh("promtool check metrics < " .. t.q(dir .. "/scrape.txt"), true)
    assert.are.equal(0, rc, out)

    local code, body = t.http_get(port, "/livez")
    assert.are.same({ 200, "ok\n" }, { code, body })
    assert.are.equal(200, (t.http_get(port, "/healthz")))
    assert.are.same({ 200, "ready\n" }, { t.http_get(port, "/readyz") })
    assert.are.equal(404, (t.http_get(port, "/nope")))

    t.sh("kill -TERM " .. run.pid)
    assert.are.equal(0, run.wait(), run.log())
  end)

  it("/readyz is 503 before the group assigns partitions and while the store fails", function()
    local db = dir .. "/held.db"
    t.sh("sqlite3 " .. t.q(db) .. " 'pragma journal_mode=wal; create table hold(a)' >/dev/null")
    local conf = t.config(dir, mock, { group = "g-held", topics = { "held" }, store = db })
    local run = t.spawn(dir, "held", t.q(t.bin) .. " run -c " .. t.q(conf))
    local port = t.http_port(run)
    -- the first join of a group takes the mock cluster about 3 s
    local code, body = t.http_get(port, "/readyz")
    assert.are.same({ 503, "not ready: no partitions assigned yet\n" }, { code, body })
    for _ = 1, 200 do
      if t.http_get(port, "/readyz") == 200 then break end
      t.sleep(0.1)
    end
    assert.are.equal(200, (t.http_get(port, "/readyz")))

    -- another writer holds the database past the store's busy timeout (5 s)
    t.sh("(echo 'begin immediate;'; echo 'insert into hold values (1);'; sleep 9; echo 'commit;')" ..
      " | sqlite3 " .. t.q(db) .. " >/dev/null 2>&1 &")
    t.sleep(0.5)
    t.produce(mock, "held", { { "ORD-1", t.event("ORD-1", 1) } }, dir)
    local seen
    for _ = 1, 150 do
      code, body = t.http_get(port, "/readyz")
      if code == 503 then seen = body break end
      t.sleep(0.1)
    end
    assert.matches("^not ready: store: [^\n]*database is locked", seen or "")
    assert.are.equal(200, (t.http_get(port, "/livez"))) -- retrying is not stuck
    for _ = 1, 300 do
      if t.http_get(port, "/readyz") == 200 then break end
      t.sleep(0.1)
    end
    assert.are.same({ 200, "ready\n" }, { t.http_get(port, "/readyz") })
    -- the record comes back once its partition's backoff is over
    local text
    for _ = 1, 100 do
      text = select(2, t.http_get(port, "/metrics"))
      if sample(text, 'eddy_records_total{topic="held",outcome="handled"}') then break end
      t.sleep(0.1)
    end
    assert.truthy(sample(text, "eddy_store_transaction_failures_total") >= 1)
    assert.truthy(sample(text, "eddy_batches_abandoned_total") >= 1)
    assert.are.equal(1, sample(text, 'eddy_records_total{topic="held",outcome="handled"}'))
    t.sh("kill -TERM " .. run.pid)
    assert.are.equal(0, run.wait(), run.log())
  end)

  it("an address it cannot serve stops eddy run at start", function()
    local conf = t.config(dir, mock, { group = "g-bad", topics = { "ops" }, http = "127.0.0.1" })
    local rc, out = t.eddy("run -c " .. t.q(conf))
    assert.are.equal(2, rc, out)
    assert.matches("http.listen: \"127.0.0.1\" is not host:port", out, 1, true)
  end)
end)
