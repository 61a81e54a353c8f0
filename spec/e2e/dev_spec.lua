-- eddy dev: the embedded broker, the example events and the shipped
-- handlers, actions printed as they happen.
local t = require "eddy_test"

describe("eddy dev", function()
  local dir

  setup(function() dir = t.tmpdir() end)
  teardown(function() t.sh("rm -rf " .. t.q(dir)) end)

  -- key -> decoded value (a re-encoded object's key order may differ)
  local function table_dump(db, tbl)
    local rows = {}
    for _, r in ipairs(t.query(db, "select key, value from " .. tbl .. " order by key")) do
      rows[r.key] = require("cjson").decode(r.value)
    end
    return rows
  end

  it("runs the shipped handlers on the examples; same state as a replay", function()
    local text = t.read(t.root .. "/conf/eddy.yaml")
    text = text:gsub("path: var/eddy.db", "path: " .. dir .. "/dev.db")
    t.write(dir .. "/dev.yaml", text)
    local rc, out = t.eddy("dev -c " .. t.q(dir .. "/dev.yaml") .. " --exit-at-end", 60)
    assert.are.equal(0, rc, out)
    local addr = out:match("embedded broker: (127%.0%.0%.1:%d+)")
    assert.truthy(addr, out)
    assert.matches("try: kcat -b " .. addr, out, 1, true)
    assert.matches("loaded 61 events from examples/events/customer%-retail%-001%.order%-proposals%.kv", out)
    assert.matches("upsert order_proposals ORD-", out, 1, true)
    assert.matches("delete order_proposals ORD-", out, 1, true)
    assert.matches("loaded 4 events from examples/events/customer-retail-002.order-proposals.ndjson", out, 1, true)
    -- one envelope violation and four events that break the schema
    assert.matches("-- consumed 65, handled 60, dead-lettered 5", out, 1, true)
    assert.matches('key "ORD-78" does not equal id "ORD-77"', out, 1, true)
    assert.matches('schema: data/status: "shipped-maybe" is not one of', out, 1, true)
    -- the example alert rules (examples/rules/) fire beside the handlers
    assert.matches("alert  (no alerts.sinks: not sent) warning Large order ORD-5: 1654 L", out, 1, true)
    assert.matches("alert  (no alerts.sinks: not sent) critical Order ORD-20 was approved, now rejected", out, 1, true)

    text = text:gsub("path: " .. dir:gsub("%p", "%%%0") .. "/dev.db", "path: " .. dir .. "/replay.db")
    t.write(dir .. "/replay.yaml", text)
    rc, out = t.eddy("replay -c " .. t.q(dir .. "/replay.yaml") ..
      " examples/events/customer-retail-001.order-proposals.kv")
    assert.are.equal(1, rc, out) -- the example holds invalid events
    rc, out = t.eddy("replay -c " .. t.q(dir .. "/replay.yaml") ..
      " examples/events/customer-retail-002.order-proposals.ndjson")
    assert.are.equal(0, rc, out)
    for _, tbl in ipairs({ "order_proposals", "rejected_proposals" }) do
      local a, b = table_dump(dir .. "/dev.db", tbl), table_dump(dir .. "/replay.db", tbl)
      assert.truthy(next(a))
      assert.are.same(b, a)
    end
  end)

  it("refuses a missing events folder", function()
    local rc, out = t.eddy("dev --events " .. t.q(dir .. "/none") .. " --exit-at-end", 30)
    assert.are.equal(1, rc, out)
    assert.matches("cannot read the example events", out, 1, true)
  end)

  it("stops cleanly on Ctrl-C (SIGINT) with the events handled", function()
    local text = t.read(t.root .. "/conf/eddy.yaml")
    t.write(dir .. "/int.yaml", (text:gsub("path: var/eddy.db", "path: " .. dir .. "/int.db")))
    local dev = t.spawn(dir, "int", t.q(t.bin) .. " dev -c " .. t.q(dir .. "/int.yaml"))
    for _ = 1, 400 do
      if dev.log():match("consumed 65") then break end
      t.sleep(0.05)
    end
    assert.matches("-- consumed 65, handled 60, dead-lettered 5", dev.log(), 1, true)
    t.sh("kill -INT " .. dev.pid)
    local rc = dev.wait()
    assert.are.equal(0, rc, dev.log())
    assert.matches("stopped: 65 records", dev.log(), 1, true)
    assert.truthy(next(table_dump(dir .. "/int.db", "order_proposals")))
  end)
end)
