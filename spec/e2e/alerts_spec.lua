-- ctx.alert end to end: the outbox, a real HTTP receiver on 127.0.0.1 that
-- verifies Standard Webhooks signatures, retries on 500 and 429, Slack and
-- Alertmanager bodies, no alert sent twice after kill -9 and a replay, and
-- a burst of alerts delivered before `eddy run --exit-at-end` exits.
local t = require "eddy_test"
local cjson = require "cjson"

local SECRET = "whsec_" .. "c3BlYy1zZWNyZXQtZm9yLWVkZHktYWxlcnRz" -- base64 of a test key

local wait_for = t.wait_for

describe("ctx.alert", function()
  local dir, mock, recv, plain
  local skip = 0 -- deliveries of earlier tests

  -- what the receivers got: the signed one (webhook) and the plain one
  -- (Slack, Alertmanager), from the (skip + 1)th line on
  local function deliveries()
    local list = {}
    for _, log in ipairs({ "/receiver.deliveries", "/plain.deliveries" }) do
      local n = 0
      for line in (t.read(dir .. log) or ""):gmatch("[^\n]+") do
        n = n + 1
        if log ~= "/receiver.deliveries" or n > skip then list[#list + 1] = cjson.decode(line) end
      end
    end
    table.sort(list, function(a, b) return a.time < b.time end)
    return list
  end

  -- deliveries answered 200, by path
  local function delivered(path)
    local n = 0
    for _, d in ipairs(deliveries()) do
      if d.status == 200 and (not path or d.path == path) and d.verified ~= false then n = n + 1 end
    end
    return n
  end

  setup(function()
    dir = t.tmpdir()
    mock = t.start_mock(dir, { "a1", "a2", "a3", "eddy.dlq" })
    recv = t.start_receiver(dir, "receiver", "--secret " .. SECRET)
    plain = t.start_receiver(dir, "plain", "")
    t.handlers(dir, { ["watch.lua"] = [[
return {
  on_event = function(ev, ctx)
    if ev.deleted then return end
    if ev.data.quantity >= 30 then
      ctx.alert{ sink = ev.topic == "a1" and ev.key == "ORD-2" and "chat" or
                        ev.key == "ORD-3" and "am" or nil,
                 severity = "critical", key = ev.key,
                 summary = "order " .. ev.key .. " is big: " .. ev.data.quantity,
                 description = "more than 30 units",
                 labels = { team = "replenishment" }, annotations = { runbook = "https://wiki/x" } }
    end
    ctx.upsert("seen", ev.key, { q = ev.data.quantity })
  end,
}
]] })
  end)

  teardown(function()
    t.stop_mock(mock)
    if recv then t.sh("kill " .. recv.pid) end
    if plain then t.sh("kill " .. plain.pid) end
    t.sh("rm -rf " .. t.q(dir))
  end)

  local function conf(group, topic)
    return t.config(dir, mock, { group = group, topics = { topic }, extra = table.concat({
      "alerts:",
      "  default_sink: ops",
      "  sinks:",
      "    ops: { type: webhook, url: \"" .. recv.url .. "/hook\", secret: \"" .. SECRET .. "\", timeout_ms: 3000 }",
      "    chat: { type: slack, url: \"" .. plain.url .. "/slack\" }",
      "    am: { type: alertmanager, url: \"" .. plain.url .. "\" }",
      "  generator_url: \"http://eddy.example.com\"",
    }, "\n") .. "\n" })
  end

  it("delivers to a signed webhook, Slack and Alertmanager, retrying 500 and 429", function()
    t.sh("curl -sS -X POST " .. t.q(recv.url .. "/_receiver/script?steps=500,429:1"))
    t.produce(mock, "a1", {
      { "ORD-1", t.event("ORD-1", 3) }, -- quantity 30: webhook (the default sink)
      { "ORD-2", t.event("ORD-2", 4) }, -- Slack
      { "ORD-3", t.event("ORD-3", 5) }, -- Alertmanager
      { "ORD-4", t.event("ORD-4", 1) }, -- quantity 10: no alert
    }, dir)
    local run = t.spawn(dir, "a1", t.q(t.bin) .. " run -c " .. t.q(conf("g-a1", "a1")))
    wait_for("three deliveries", function() return delivered() >= 3 end, 30, run.log)
    -- /metrics counts them by sink, and the outbox's count (once a
    -- second) goes to 0
    local port, text = t.http_port(run), ""
    local function sample(series)
      return tonumber(text:match("\n" .. series:gsub("%p", "%%%0") .. " (%S+)"))
    end
    wait_for("an empty outbox in /metrics", function()
      _, text = t.http_get(port, "/metrics")
      return sample('eddy_alert_outbox_pending') == 0 and
        sample('eddy_alert_deliveries_total{sink="ops",outcome="delivered"}') == 1 and
        sample('eddy_alert_deliveries_total{sink="chat",outcome="delivered"}') == 1 and
        sample('eddy_alert_deliveries_total{sink="am",outcome="delivered"}') == 1
    end, 5, function() return text end)
    assert.are.equal(3, sample('eddy_alert_requests_total{sink="ops"}'), text)
    assert.are.equal(2, sample('eddy_alert_deliveries_total{sink="ops",outcome="retried"}'))
    assert.are.equal(0, sample('eddy_alert_deliveries_total{sink="chat",outcome="retried"}'))
    assert.are.equal(0, sample('eddy_alert_deliveries_total{sink="am",outcome="failed"}'))
    t.sh("kill -TERM " .. run.pid)
    assert.are.equal(0, run.wait(), run.log())

    local hooks, slack, am = {}, nil, nil
    for _, d in ipairs(deliveries()) do
      if d.path == "/hook" then hooks[#hooks + 1] = d end
      if d.path == "/slack" and d.status == 200 then slack = cjson.decode(d.body) end
      if d.path == "/api/v2/alerts" and d.status == 200 then am = cjson.decode(d.body) end
    end
    -- the webhook: signed, the same webhook-id on every attempt
    assert.is_true(#hooks >= 1)
    local ok = hooks[#hooks]
    assert.are.equal(200, ok.status)
    assert.is_true(ok.verified)
    local body = cjson.decode(ok.body)
    assert.are.equal("order ORD-1 is big: 30", body.summary)
    assert.are.equal("critical", body.severity)
    assert.are.equal("replenishment", body.labels.team)
    assert.are.equal("ORD-1", body.event.id)
    assert.are.equal(t.TENANT, body.event.tenant)
    assert.are.equal("a1", body.event.topic)
    for _, h in ipairs(hooks) do assert.are.equal(ok.webhook_id, h.webhook_id) end
    -- answered 500, then 429 with Retry-After: 1, which was honoured
    assert.are.equal(3, #hooks)
    assert.are.equal(500, hooks[1].status)
    assert.are.equal(429, hooks[2].status)
    assert.is_true(hooks[3].time - hooks[2].time >= 0.95, "retried after " .. (hooks[3].time - hooks[2].time))
    -- Slack and Alertmanager bodies
    assert.truthy(slack and slack.text and slack.text:match("order ORD%-2 is big"), cjson.encode(slack))
    assert.is_table(slack.blocks)
    assert.truthy(am and am[1], "no Alertmanager delivery")
    assert.are.equal("critical", am[1].labels.severity)
    assert.are.equal("replenishment", am[1].labels.team)
    assert.are.equal("order ORD-3 is big: 50", am[1].annotations.summary)
    assert.are.equal("https://wiki/x", am[1].annotations.runbook)
    assert.are.equal("http://eddy.example.com", am[1].generatorURL)
    assert.is_string(am[1].startsAt)
  end)

  it("sends each alert once across kill -9 and a replay of the same events", function()
    t.sh("curl -sS -X POST " .. t.q(recv.url .. "/_receiver/reset"))
    local _, lines = (t.read(recv.deliveries) or ""):gsub("\n", "")
    skip = lines
    local records = {}
    for i = 11, 15 do records[#records + 1] = { "ORD-" .. i, t.event("ORD-" .. i, 3) } end
    t.produce(mock, "a2", records, dir)
    local run = t.spawn(dir, "a2", t.q(t.bin) .. " run -c " .. t.q(conf("g-a2", "a2")))
    wait_for("five deliveries", function() return delivered("/hook") >= 5 end, 30, run.log)
    t.sh("kill -9 " .. run.pid)
    run.wait()

    -- the same events again, from the start, with another consumer group
    run = t.spawn(dir, "a2b", t.q(t.bin) .. " run -c " .. t.q(conf("g-a2-replay", "a2")))
    wait_for("the replay", function()
      local rows = t.query(dir .. "/state.db", "select count(*) as n from seen")
      return rows[1] and rows[1].n >= 5 and run.log():match("assigned")
    end, 30)
    t.sleep(1.5)
    t.sh("kill -TERM " .. run.pid)
    assert.are.equal(0, run.wait(), run.log())
    -- and once more through eddy replay into the same store
    t.write(dir .. "/again.kv", (function()
      local lines = {}
      for _, r in ipairs(records) do lines[#lines + 1] = r[1] .. "\t" .. r[2] end
      return table.concat(lines, "\n") .. "\n"
    end)())
    local rc, out = t.eddy("replay -c " .. t.q(conf("g-x", "a2")) .. " --topic a2 " .. t.q(dir .. "/again.kv"))
    assert.are.equal(0, rc, out)

    local ids = {}
    for _, d in ipairs(deliveries()) do
      if d.path == "/hook" and d.status == 200 and not d.duplicate then
        assert.is_nil(ids[d.webhook_id], "delivered twice: " .. d.webhook_id)
        ids[d.webhook_id] = true
      end
    end
    local n = 0
    for _ in pairs(ids) do n = n + 1 end
    assert.are.equal(5, n)
    local rows = t.query(dir .. "/state.db",
      "select count(*) as n from eddy_outbox where dedupe_key like 'ops/watch.lua/ORD-1_'")
    assert.are.equal(5, rows[1].n)
  end)

  -- eddy run --exit-at-end on a disk whose flushes take 30 ms (most
  -- disks that honour them; this machine's may not): tests/tools/slow-flush.c
  -- preloaded. Returns exit code, output and seconds.
  local function run_timed(cfg)
    local lib = dir .. "/slow-flush.so"
    if not t.read(lib) then
      local rc, out = t.sh("cc -shared -fPIC -o " .. t.q(lib) .. " tests/tools/slow-flush.c", true)
      assert(rc == 0, "building tests/tools/slow-flush.c: " .. out)
    end
    local stats = dir .. "/time.out"
    local rc, out = t.sh("LD_PRELOAD=" .. t.q(lib) .. " SLOW_FLUSH_MS=30 " ..
      "ASAN_OPTIONS=\"${ASAN_OPTIONS:-}:verify_asan_link_order=0\" " ..
      "/usr/bin/time -f '%e' -o " .. t.q(stats) .. " timeout 120 " ..
      t.q(t.bin) .. " run -c " .. t.q(cfg) .. " --exit-at-end", true)
    return rc, out, tonumber((t.read(stats) or ""):match("([%d.]+)%s*$"))
  end

  -- the webhook deliveries answered 200 since the receiver's log had skip
  -- lines, counted by webhook-id, and the seconds from the first to the
  -- last
  local function hook_ids()
    local ids, n, first, last = {}, 0, nil, nil
    for _, d in ipairs(deliveries()) do
      if d.path == "/hook" and d.status == 200 then
        if not ids[d.webhook_id] then n = n + 1 end
        ids[d.webhook_id] = (ids[d.webhook_id] or 0) + 1
        first, last = first or d.time, d.time
      end
    end
    return ids, n, first and last - first
  end

  local function mark_receiver_log()
    t.sh("curl -sS -X POST " .. t.q(recv.url .. "/_receiver/reset"))
    local _, lines = (t.read(recv.deliveries) or ""):gsub("\n", "")
    skip = lines
  end

  it("delivers a burst of 300 alerts once each before --exit-at-end exits", function()
    mark_receiver_log()
    local records = {}
    for i = 1, 300 do
      local key = ("BURST-%03d"):format(i)
      records[i] = { key, t.event(key, 3) } -- quantity 30: one alert each
    end
    t.produce(mock, "a3", records, dir)
    local rc, out, secs = run_timed(conf("g-a3", "a3"))
    assert.are.equal(0, rc, out)

    -- every alert reached the receiver, once, while eddy ran
    local ids, n, burst = hook_ids()
    assert.are.equal(300, n, out)
    for id, times in pairs(ids) do assert.are.equal(1, times, id .. " delivered " .. times .. " times") end
    local rows = t.query(dir .. "/state.db",
      "select state, count(*) as n from eddy_outbox where dedupe_key like 'ops/watch.lua/BURST-%' group by state")
    assert.are.same({ { state = "delivered", n = 300 } }, rows)
    -- a flush per outcome made it 30 a second (10 s); the sender alone
    -- does 1,000 a second and more (bench/results.md): within 1 s leaves
    -- room for a sanitizer build on a busy machine
    assert.truthy(burst < 1, ("300 alerts in %.2f s"):format(burst))
    assert.matches("alerts: stopped: 300 delivered, 0 retries, 0 failed, 0 given up; 0 left in the outbox", out, 1, true)
    -- start-up and the mock's ~3 s group join included
    assert.truthy(secs and secs < 8, "took " .. tostring(secs) .. " s\n" .. out)
  end)

  it("stops without waiting out backoffs: those alerts stay in the outbox, counted, for the next start", function()
    mark_receiver_log()
    -- every attempt answered 500: each alert is tried once at the stop and
    -- then waits out its backoff, which the exiting run does not
    t.sh("curl -sS -X POST " .. t.q(recv.url .. "/_receiver/script?steps=500*100"))
    local records = {}
    for i = 1, 20 do
      local key = ("BACKOFF-%02d"):format(i)
      records[i] = { key, t.event(key, 3) }
    end
    t.produce(mock, "a3", records, dir)
    local rc, out, secs = run_timed(conf("g-a3", "a3"))
    assert.are.equal(0, rc, out)
    local retries = tonumber(out:match("alerts: stopped: 0 delivered, (%d+) retries, 0 failed, 0 given up; 20 left in the outbox"))
    assert.truthy(retries and retries >= 20, out)
    assert.truthy(secs and secs < 8, "took " .. tostring(secs) .. " s\n" .. out)
    local rows = t.query(dir .. "/state.db",
      "select count(*) as n from eddy_outbox where dedupe_key like 'ops/watch.lua/BACKOFF-%' " ..
      "and state = 'pending' and attempts >= 1")
    assert.are.equal(20, rows[1].n)

    -- the next start sends them, once the backoff is over
    t.sh("curl -sS -X POST " .. t.q(recv.url .. "/_receiver/reset"))
    t.sleep(1)
    rc, out = run_timed(conf("g-a3", "a3"))
    assert.are.equal(0, rc, out)
    assert.matches("alerts: stopped: 20 delivered, 0 retries, 0 failed, 0 given up; 0 left in the outbox", out, 1, true)
  end)

  it("without sinks, dry runs and eddy dev show alerts; a sink that is not configured fails the event", function()
    t.write(dir .. "/one.kv", "ORD-21\t" .. t.event("ORD-21", 3) .. "\nORD-2\t" .. t.event("ORD-2", 3) .. "\n")
    local plain_conf = t.config(dir, nil, { store = dir .. "/dry.db" })
    local rc, out = t.eddy("replay --dry-run -c " .. t.q(plain_conf) .. " --topic a1 " .. t.q(dir .. "/one.kv"))
    assert.are.equal(1, rc, out)
    assert.matches("alert  (no alerts.sinks: not sent) critical order ORD-21 is big: 30", out, 1, true)
    -- ORD-2 on a1 names the sink "chat", which this config does not have
    assert.matches('one.kv:2: handler watch.lua: [^\n]*sink "chat" is not in alerts.sinks', out)
  end)
end)
