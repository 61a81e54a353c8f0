-- Alert rules (rules/*.yaml) end to end: eddy check's errors at the
-- file's line and column, rules and a handler on the same events of the
-- mock cluster, alerts delivered to a real webhook receiver, `before` and
-- kind change kept in the store across runs, realert, hot reload of the
-- rules folder (a broken file keeps the running rules), replay --dry-run;
-- the time-based kinds: a flatline that fires on time in eddy run, a for:
-- whose state outlives a restart and whose resolved notification reaches
-- Alertmanager as endsAt, clock steps in rule tests, replay on event time.
local t = require "eddy_test"
local cjson = require "cjson"

local wait_for = t.wait_for

local RULES = [[
- name: large-order
  when:
    types: ["com.relexsolutions.supply-chain.transactions.order-proposals.*"]
    if: data.quantity > 45 and data.status == "proposed"
  severity: critical
  summary: "Large order {{data.order_id}}: {{data.quantity}} {{data.unit}}"
  labels: { tenant: "{{tenant}}", order: "{{key}}" }
  annotations: { runbook: "https://wiki.example.com/large-orders" }
  sink: ops
- name: status-change
  kind: change
  compare: data.status
  when: { types: ["com.relexsolutions.*"] }
  summary: "{{key}}: {{before.status}} -> {{data.status}}"
  labels: { order: "{{key}}", status: "{{data.status}}" }
]]

describe("alert rules", function()
  local dir, mock, recv

  -- the receiver's deliveries (JSON bodies of those answered 200)
  local function delivered()
    local list = {}
    for line in (t.read(recv.deliveries) or ""):gmatch("[^\n]+") do
      local d = cjson.decode(line)
      if d.status == 200 then list[#list + 1] = cjson.decode(d.body) end
    end
    return list
  end

  local function summaries()
    local s = {}
    for _, a in ipairs(delivered()) do s[#s + 1] = a.summary end
    table.sort(s)
    return s
  end

  setup(function()
    dir = t.tmpdir()
    mock = t.start_mock(dir, { "ru1", "ru2", "ru3", "eddy.dlq" })
    recv = t.start_receiver(dir, "receiver")
    t.handlers(dir, { ["keep.lua"] = [[
return {
  on_event = function(ev, ctx)
    if ev.deleted then return ctx.delete("orders", ev.key) end
    ctx.upsert("orders", ev.key, ev.data)
  end,
}
]] })
  end)

  teardown(function()
    t.stop_mock(mock)
    if recv then t.sh("kill " .. recv.pid) end
    t.sh("rm -rf " .. t.q(dir))
  end)

  local function conf(group, topic, rules, extra)
    return t.config(dir, mock, { group = group, topics = { topic }, extra =
      "rules: " .. rules .. "\n" ..
      "reload: { debounce_ms: 100 }\n" ..
      "alerts:\n  default_sink: ops\n  sinks:\n" ..
      "    ops: { type: webhook, url: \"" .. recv.url .. "/hook\" }\n" .. (extra or "") })
  end

  it("eddy check reports a broken rule at its file, line and column, and warns of varying labels", function()
    local rdir = dir .. "/bad"
    t.sh("mkdir -p " .. t.q(rdir))
    t.write(rdir .. "/large.yaml", table.concat({
      "- name: large",
      "  when:",
      "    types: [x]",
      "    if: data.quantity > 10000 and and",
      "" }, "\n"))
    local c = conf("g-check", "ru1", rdir)
    local rc, out = t.eddy("check -c " .. t.q(c))
    assert.are.equal(1, rc, out)
    assert.matches(rdir .. "/large.yaml:4:35: if: unexpected 'and'", out, 1, true)

    -- a quoted scalar: the column counts from after the quote
    t.write(rdir .. "/large.yaml", "- name: large\n  when: { if: \"data.q >> 3\" }\n")
    rc, out = t.eddy("check -c " .. t.q(c))
    assert.are.equal(1, rc, out)
    assert.matches(rdir .. "/large.yaml:2:24: if: unexpected '>'", out, 1, true)

    for _, case in ipairs({
      { "- name: a\n  when: {}\n  sink: nowhere\n", ":3:9: sink: \"nowhere\" is not in alerts.sinks" },
      { "- name: a\n  when: {}\n  lables: {}\n", ":3:3: lables: unknown key of a rule" },
      { "- name: a\n", ":1:3: when: required" },
      { "- when: {}\n", ":1:3: name: required" },
      { "- name: a\n  when:\n    if: matches(data.id, \"a(\")\n", ":3:26: if: matches: invalid regex" },
      { "- name: a\n  when: {}\n- name: a\n  when: {}\n", ":3:9: name: \"a\" is already the name of a rule" },
    }) do
      t.write(rdir .. "/large.yaml", case[1])
      rc, out = t.eddy("check -c " .. t.q(c))
      assert.are.equal(1, rc, out)
      assert.matches(rdir .. "/large.yaml" .. case[2], out, 1, true)
    end

    -- a good file: the counts, and a warning for labels that change with every event
    t.write(rdir .. "/large.yaml", table.concat({
      "- name: a",
      "  when:",
      "    if: data.quantity > 5",
      "  labels:",
      "    id: \"{{id}}\"",
      "    q: \"{{data.quantity}}\"",
      "    tenant: \"{{tenant}}\"",
      "" }, "\n"))
    t.write(rdir .. "/large.test.yaml", "not: [a rule file\n") -- tests are not rules
    rc, out = t.eddy("check -c " .. t.q(c))
    assert.are.equal(0, rc, out)
    assert.matches("1 rules in 1 files", out, 1, true)
    assert.matches("warning: " .. rdir .. "/large.yaml:5:9: labels.id: reads id", out, 1, true)
    assert.matches("warning: " .. rdir .. "/large.yaml:6:8: labels.q: reads data.quantity", out, 1, true)
    assert.is_nil(out:find("labels.tenant", 1, true))

    -- a configured folder must exist
    rc, out = t.eddy("check -c " .. t.q(conf("g-check", "ru1", dir .. "/nope")))
    assert.are.equal(1, rc, out)
    assert.matches(dir .. "/nope/: No such file or directory", out, 1, true)
  end)

  it("raises rule alerts beside a handler, keeps before in the store, and reloads the rules folder", function()
    local rdir = dir .. "/rules"
    t.sh("mkdir -p " .. t.q(rdir))
    t.write(rdir .. "/orders.yaml", RULES)
    local function ev(key, version, status)
      local e = cjson.decode(t.event(key, version))
      e.data.status = status
      return cjson.encode(e)
    end
    t.produce(mock, "ru1", {
      { "ORD-1", ev("ORD-1", 5, "proposed") }, -- large (50)
      { "ORD-2", ev("ORD-2", 1, "proposed") },
      { "ORD-2", ev("ORD-2", 1, "approved") }, -- status change
      { "ORD-3", ev("ORD-3", 6, "approved") }, -- large but not proposed
    }, dir)
    local c = conf("g-run", "ru1", rdir)
    local run = t.spawn(dir, "run1", t.q(t.bin) .. " run --exit-at-end -c " .. t.q(c))
    assert.are.equal(0, run.wait(), run.log())
    assert.are.same({ "Large order ORD-1: 50 EA", "ORD-2: proposed -> approved" }, summaries())
    local large
    for _, a in ipairs(delivered()) do if a.summary:match("^Large") then large = a end end
    assert.are.equal("critical", large.severity)
    assert.are.same({ alertname = "large-order", tenant = t.TENANT, order = "ORD-1" }, large.labels)
    assert.are.same({ runbook = "https://wiki.example.com/large-orders" }, large.annotations)
    assert.are.equal("ORD-1", large.key)
    -- the handler ran on the same events
    assert.are.equal(3, #t.query(dir .. "/state.db", "select key from orders"))

    -- a second run of the same group: before comes from the store, so
    -- ORD-2's next change is seen as one; ORD-1 again large, already sent
    t.produce(mock, "ru1", {
      { "ORD-2", ev("ORD-2", 1, "rejected") },
      { "ORD-1", ev("ORD-1", 5, "proposed") },
    }, dir)
    run = t.spawn(dir, "run2", t.q(t.bin) .. " run --exit-at-end -c " .. t.q(c))
    assert.are.equal(0, run.wait(), run.log())
    assert.are.same({ "Large order ORD-1: 50 EA", "ORD-2: approved -> rejected",
      "ORD-2: proposed -> approved" }, summaries())

    -- hot reload: a new rule applies to the events after it; a broken
    -- file leaves the running rules
    local before = #delivered()
    run = t.spawn(dir, "run3", t.q(t.bin) .. " run -c " .. t.q(c))
    wait_for("the group to settle", function() return run.log():match("assigned") end, 20, run.log)
    t.write(rdir .. "/more.yaml", "- name: any-cancel\n  when:\n    if: data.status == \"cancelled\"\n" ..
      "  summary: \"cancelled {{key}}\"\n  realert: 1h\n")
    wait_for("the reload", function() return run.log():match("reloaded 1 handlers") end, 10, run.log)
    t.write(rdir .. "/broken.yaml", "- name: b\n  when: { if: \"data.x ==\" }\n")
    wait_for("the failed reload", function()
      return run.log():match("reload failed, the running handlers stay: [^\n]*broken.yaml:2:[0-9]+: if:")
    end, 10, run.log)
    t.produce(mock, "ru1", { { "ORD-5", ev("ORD-5", 1, "cancelled") }, { "ORD-5", ev("ORD-5", 1, "cancelled") } }, dir)
    wait_for("the cancel alert", function() return #delivered() >= before + 1 end, 15, run.log)
    t.sh("kill -TERM " .. run.pid)
    assert.are.equal(0, run.wait(), run.log())
    local last = delivered()
    assert.are.equal(before + 1, #last, "realert: the second cancellation is not sent again")
    assert.are.equal("cancelled ORD-5", last[#last].summary)
    assert.are.equal('rule/any-cancel/{"alertname":"any-cancel"}', last[#last].dedupe)
  end)

  it("eddy rule test runs test files offline and says what differed; with events, what fired", function()
    local rc, out = t.eddy("rule test examples/rules/orders.test.yaml")
    assert.are.equal(0, rc, out)
    assert.matches("ok   examples/rules/orders.test.yaml:3: a large proposal fires, once per order (1 alert)", out, 1, true)
    assert.matches("3 cases, 0 failed", out, 1, true)

    local rdir = dir .. "/rt"
    t.sh("mkdir -p " .. t.q(rdir))
    t.write(rdir .. "/r.yaml", "- name: big\n  when: { if: data.q > 20 }\n  summary: \"big {{key}}\"\n" ..
      "  labels: { k: \"{{key}}\" }\n- name: any\n  when: {}\n")
    t.write(rdir .. "/r.test.yaml", table.concat({
      "tests:",
      "  - name: right",
      "    events: [ { type: t, id: A, data: { q: 30 } }, { type: t, id: A, data: { q: 40 } } ]",
      "    expect:",
      "      - { rule: big, labels: { k: A }, summary: big A }",
      "      - { rule: any }",
      "  - name: wrong",
      "    events: [ { type: t, id: B, data: { q: 10 } } ]",
      "    expect: [ { rule: big, labels: { k: B } } ]",
      "  - name: none",
      "    events: [ { type: t, key: C, data: { q: 50 } } ]",
      "    expect: none",
      "" }, "\n"))
    rc, out = t.eddy("rule test -c /dev/null " .. t.q(rdir .. "/r.test.yaml"))
    assert.are.equal(1, rc, out)
    assert.matches("ok   " .. rdir .. "/r.test.yaml:2: right (2 alerts)", out, 1, true)
    assert.matches("FAIL " .. rdir .. "/r.test.yaml:7: wrong\n" ..
      "    expected, not raised: big {\"k\":\"B\"}\n" ..
      "    raised, not expected: any {\"alertname\":\"any\"} \"any\"\n", out, 1, true)
    assert.matches("FAIL " .. rdir .. "/r.test.yaml:10: none\n" ..
      "    raised, not expected: big {\"alertname\":\"big\",\"k\":\"C\"} \"big C\"\n", out, 1, true)
    assert.matches("3 cases, 2 failed", out, 1, true)

    -- the rules folder's tests by default; a broken rule is an error of use
    t.write(dir .. "/rt.yaml", "rules: " .. rdir .. "\n")
    rc, out = t.eddy("rule test -c " .. t.q(dir .. "/rt.yaml"))
    assert.are.equal(1, rc, out)
    assert.matches("3 cases, 2 failed", out, 1, true)
    t.write(rdir .. "/r.yaml", "- name: big\n  when: { if: data.q > }\n")
    rc, out = t.eddy("rule test -c /dev/null " .. t.q(rdir .. "/r.test.yaml"))
    assert.are.equal(2, rc, out)
    assert.matches(rdir .. "/r.yaml:2:23: if: unexpected end", out, 1, true)

    -- rules and events: what fired, event by event
    rc, out = t.eddy("rule test -c /dev/null examples/rules/orders.yaml examples/events/customer-retail-001.order-proposals.kv")
    assert.are.equal(0, rc, out)
    assert.matches("order-proposals.kv:8 ORD-20: no rule fired\n", out, 1, true)
    assert.matches("order-proposals.kv:9 ORD-20:\n  order-rejected-after-approval critical " ..
      "\"Order ORD-20 was approved, now rejected (630 PAL)\"", out, 1, true)
  end)

  it("eddy replay --dry-run prints rule alerts", function()
    local rdir = dir .. "/dry"
    t.sh("mkdir -p " .. t.q(rdir))
    t.write(rdir .. "/r.yaml", "- name: big\n  when: { if: data.quantity > 20 }\n  summary: \"big {{key}}\"\n")
    local input = dir .. "/dry.ndjson"
    t.write(input, t.event("ORD-7", 3) .. "\n" .. t.event("ORD-8", 1) .. "\n")
    local c = t.config(dir, nil, { extra = "rules: " .. rdir .. "\n", store = dir .. "/dry.db" })
    local rc, out = t.eddy("replay --dry-run -c " .. t.q(c) .. " " .. t.q(input))
    assert.are.equal(0, rc, out)
    assert.matches("alert  (no alerts.sinks: not sent) warning big ORD-7", out, 1, true)
    assert.is_nil(out:find("big ORD-8", 1, true))
  end)

  it("time-based rules in eddy run: a flatline fires on time; a for: keeps its state across a restart and resolves at Alertmanager", function()
    local rdir = dir .. "/timed"
    t.sh("mkdir -p " .. t.q(rdir))
    t.write(rdir .. "/t.yaml", table.concat({
      "- name: silent",
      "  kind: flatline",
      "  window: 2s",
      "  group_by: [tenant]",
      "  when: { if: data.status == \"approved\" }",
      "  summary: \"{{tenant}} is silent\"",
      "  labels: { tenant: \"{{tenant}}\" }",
      "- name: stuck",
      "  for: 12s",
      "  when: { if: data.status == \"proposed\" }",
      "  summary: \"{{key}} still proposed\"",
      "  labels: { order: \"{{key}}\" }",
      "  sink: am",
      "" }, "\n"))
    local function ev(key, status)
      local e = cjson.decode(t.event(key, 1))
      e.data.status = status
      e.time = os.date("!%Y-%m-%dT%H:%M:%SZ")
      return cjson.encode(e)
    end
    local c = conf("g-timed", "ru3", rdir, "    am: { type: alertmanager, url: \"" .. recv.url .. "\" }\n")
    -- run 1: ORD-9 is proposed; the run (a group join, one record) ends
    -- well before 12 s have passed, also on a busy machine
    t.produce(mock, "ru3", { { "ORD-9", ev("ORD-9", "proposed") } }, dir)
    local run = t.spawn(dir, "timed1", t.q(t.bin) .. " run --exit-at-end -c " .. t.q(c))
    assert.are.equal(0, run.wait(), run.log())
    local function am()
      local list = {}
      for line in (t.read(recv.deliveries) or ""):gmatch("[^\n]+") do
        local d = cjson.decode(line)
        if d.path == "/api/v2/alerts" and d.status == 200 then list[#list + 1] = cjson.decode(d.body)[1] end
      end
      return list
    end
    assert.are.same({}, am())
    local st = t.query(dir .. "/state.db", "select value from _eddy_rules where key = 'stuck#g/ORD-9'")
    assert.are.equal(1, #st, "the for: state is in the store")

    -- run 2, after a restart: nothing new for ORD-9, the tick fires it;
    -- the approved event of tenant acme then goes silent: the flatline fires
    local run2 = t.spawn(dir, "timed2", t.q(t.bin) .. " run -c " .. t.q(c))
    wait_for("the for: alert", function() return #am() >= 1 end, 30, run2.log)
    local a = am()[1]
    assert.are.equal("stuck", a.labels.alertname)
    assert.are.equal("ORD-9 still proposed", a.annotations.summary)
    assert.is_nil(a.endsAt)
    t.produce(mock, "ru3", { { "ORD-10", ev("ORD-10", "approved") } }, dir)
    local function silent()
      for _, d in ipairs(delivered()) do if d.summary == t.TENANT .. " is silent" then return d end end
    end
    wait_for("the flatline alert", silent, 10, run2.log)
    assert.are.same({ alertname = "silent", tenant = t.TENANT }, silent().labels)
    assert.is_nil(silent().status)
    -- ORD-9 approved: the condition of stuck stops holding, resolved at Alertmanager
    t.produce(mock, "ru3", { { "ORD-9", ev("ORD-9", "approved") } }, dir)
    wait_for("the resolved notification", function() return #am() >= 2 end, 10, run2.log)
    t.sh("kill -TERM " .. run2.pid)
    assert.are.equal(0, run2.wait(), run2.log())
    local r = am()[2]
    assert.are.equal("stuck", r.labels.alertname)
    assert.are.equal("ORD-9", r.labels.order)
    assert.is_string(r.endsAt)
    assert.are.equal(a.startsAt, r.startsAt)
    assert.are.equal(0, #t.query(dir .. "/state.db", "select key from _eddy_rules where key = 'stuck#g/ORD-9'"))
  end)

  it("eddy rule test steps the clock: each time-based kind fires and resolves on time", function()
    local rc, out = t.eddy("rule test -c /dev/null examples/rules/time-based/orders.test.yaml")
    assert.are.equal(0, rc, out)
    assert.matches("3 cases, 0 failed", out, 1, true)

    local rdir = dir .. "/steps"
    t.sh("mkdir -p " .. t.q(rdir))
    t.write(rdir .. "/s.yaml", "- name: quiet\n  kind: flatline\n  window: 10m\n  group_by: [data.store]\n" ..
      "  when: {}\n  summary: \"{{data.store}} quiet\"\n  labels: { store: \"{{data.store}}\" }\n")
    t.write(rdir .. "/s.test.yaml", table.concat({
      "tests:",
      "  - name: too early",
      "    events:",
      "      - { type: t, time: \"2025-01-14T12:00:00Z\", data: { store: S1 } }",
      "      - after: 9m",
      "        expect: [ { rule: quiet, labels: { store: S1 } } ]",
      "  - name: bad step",
      "    events: [ { type: t, data: {} }, { after: 5m } ]",
      "    expect: none",
      "" }, "\n"))
    rc, out = t.eddy("rule test -c /dev/null " .. t.q(rdir .. "/s.test.yaml"))
    assert.are.equal(1, rc, out)
    assert.matches("FAIL " .. rdir .. "/s.test.yaml:2: too early\n" ..
      "    line 5: expected, not raised: quiet {\"store\":\"S1\"}\n", out, 1, true)
    assert.matches("FAIL " .. rdir .. "/s.test.yaml:7: bad step\n" ..
      "    line 8: after: the clock has no time yet", out, 1, true)

    -- eddy check: the keys of each kind
    for _, case in ipairs({
      { "- name: a\n  kind: frequency\n  window: 1m\n  when: {}\n", ":1:3: threshold: required by kind frequency" },
      { "- name: a\n  kind: flatline\n  when: {}\n", ":1:3: window: required by kind flatline" },
      { "- name: a\n  kind: flatline\n  window: 1m\n  threshold: 20000\n  when: {}\n",
        ":4:14: threshold: must be a whole number from 1 to 10000" },
      { "- name: a\n  kind: change\n  compare: data.x\n  for: 1m\n  when: {}\n", ":4:3: for: only kind any has for" },
      { "- name: a\n  group_by: [tenant]\n  when: {}\n", ":2:3: group_by: only time-based rules" },
    }) do
      t.write(rdir .. "/s.yaml", case[1])
      rc, out = t.eddy("check -c " .. t.q(conf("g-check", "ru1", rdir)))
      assert.are.equal(1, rc, out)
      assert.matches(rdir .. "/s.yaml" .. case[2], out, 1, true)
    end
  end)

  it("eddy replay runs time-based rules on event time: a store gone quiet fires as later events arrive", function()
    local rdir = dir .. "/replay-timed"
    t.sh("mkdir -p " .. t.q(rdir))
    t.write(rdir .. "/q.yaml", "- name: quiet\n  kind: flatline\n  window: 10m\n  group_by: [data.location_id]\n" ..
      "  when: {}\n  summary: \"{{data.location_id}} quiet\"\n")
    local function at(key, loc, time)
      local e = cjson.decode(t.event(key, 1))
      e.data.location_id, e.time = loc, time
      return cjson.encode(e)
    end
    local input = dir .. "/timed.ndjson"
    t.write(input, table.concat({
      at("ORD-1", "S1", "2025-01-14T12:00:00Z"), at("ORD-2", "S2", "2025-01-14T12:00:00Z"),
      at("ORD-3", "S2", "2025-01-14T12:08:00Z"), at("ORD-4", "S2", "2025-01-14T12:15:00Z"), "" }, "\n"))
    local c = t.config(dir, nil, { extra = "rules: " .. rdir .. "\n", store = dir .. "/timed-replay.db" })
    local rc, out = t.eddy("replay --dry-run -c " .. t.q(c) .. " " .. t.q(input))
    assert.are.equal(0, rc, out)
    assert.matches("alert  (no alerts.sinks: not sent) warning S1 quiet", out, 1, true)
    assert.is_nil(out:find("S2 quiet", 1, true))
  end)
end)
