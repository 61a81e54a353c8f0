-- ctx.publish: CloudEvents produced to Kafka once the triggering event is
-- handled, read back and parsed; schema-on-write; tombstones; binary mode.
local t = require "eddy_test"
local cjson = require "cjson"

describe("ctx.publish", function()
  local dir, mock

  setup(function()
    dir = t.tmpdir()
    mock = t.start_mock(dir, { "orders", "approved", "eddy.dlq", "tx.in", "tx.out" })
    t.handlers(dir, { ["republish.lua"] = [[
return {
  subscribe = { topics = { "orders" } },
  on_event = function(ev, ctx)
    if ev.deleted then
      return ctx.publish{ topic = "approved", key = ev.key }  -- a tombstone
    end
    if ev.data.status == "approved" then
      ctx.publish{ topic = "approved", type = "com.example.order-approved.v1", key = ev.key,
                   subject = ev.data.location_id,
                   data = { order_id = ev.data.order_id, quantity = ev.data.quantity } }
      ctx.publish{ topic = "approved", type = "com.example.order-approved.v1", key = ev.key .. "-b",
                   mode = "binary", headers = { origin = "eddy-spec" },
                   data = { order_id = ev.data.order_id, quantity = ev.data.quantity } }
    end
    if ev.data.status == "rejected" then
      -- breaks the schema of its type: quantity must be a number
      ctx.publish{ topic = "approved", type = "com.example.order-approved.v1", key = ev.key,
                   data = { order_id = ev.data.order_id, quantity = "many" } }
    end
    if ev.data.status == "sent" then
      error("after publishing nothing")
    end
  end,
}
]] })
    t.sh("mkdir -p " .. t.q(dir .. "/schemas"))
    t.write(dir .. "/schemas/approved.json", cjson.encode({
      ["$schema"] = "https://json-schema.org/draft/2020-12/schema",
      ["$id"] = "urn:example:order-approved.v1",
      type = "object", required = { "order_id", "quantity" },
      properties = { order_id = { type = "string" }, quantity = { type = "number" } },
      additionalProperties = false,
    }))
  end)

  teardown(function()
    t.stop_mock(mock)
    t.sh("rm -rf " .. t.q(dir))
  end)

  local function event(key, status)
    local ev = cjson.decode(t.event(key, 1))
    ev.data.status = status
    return cjson.encode(ev)
  end

  it("produces CloudEvents after the event is handled, schema-on-write failing the event", function()
    t.produce(mock, "orders", {
      { "ORD-1", event("ORD-1", "approved") },
      { "ORD-2", event("ORD-2", "proposed") },
      { "ORD-3", event("ORD-3", "rejected") },
      { "ORD-4", nil },
    }, dir)
    local conf = t.config(dir, mock, { group = "g-pub", topics = { "orders" }, extra = table.concat({
      "schemas:",
      "  dir: " .. dir .. "/schemas",
      "  types: { \"com.example.order-approved.v1\": \"urn:example:order-approved.v1\" }",
      "publish: { source: \"urn:example:eddy-spec\", application: spec, environment_type: test }",
    }, "\n") .. "\n" })
    local rc, out = t.eddy("run -c " .. t.q(conf) .. " --exit-at-end")
    assert.are.equal(0, rc, out)

    local msgs = t.consume(mock, "approved")
    assert.are.equal(3, #msgs, out)
    -- structured mode: the value is the CloudEvent
    local ev = cjson.decode(msgs[1].value)
    assert.are.equal("ORD-1", msgs[1].key)
    assert.are.equal("application/cloudevents+json", msgs[1].headers["content-type"])
    assert.are.equal("1.0", ev.specversion)
    assert.are.equal("ORD-1", ev.id) -- the key: the state snapshot pattern
    assert.are.equal("urn:example:eddy-spec", ev.source)
    assert.are.equal("com.example.order-approved.v1", ev.type)
    assert.are.equal("STORE-0001", ev.subject)
    assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d", ev.time)
    assert.are.same({ order_id = "ORD-1", quantity = 10 }, ev.data)
    assert.are.same({ correlation_id = "c0ffee00-0000-4000-8000-000000000001", tenant = t.TENANT,
      source = { application = "spec", environment_type = "test" } }, ev.meta)
    -- binary mode: ce_ headers, the value is the data
    assert.are.equal("ORD-1-b", msgs[2].key)
    assert.are.same({ order_id = "ORD-1", quantity = 10 }, cjson.decode(msgs[2].value))
    assert.are.equal("1.0", msgs[2].headers.ce_specversion)
    assert.are.equal("ORD-1-b", msgs[2].headers.ce_id)
    assert.are.equal("com.example.order-approved.v1", msgs[2].headers.ce_type)
    assert.are.equal(t.TENANT, msgs[2].headers.ce_tenant)
    assert.are.equal("eddy-spec", msgs[2].headers.origin)
    -- the tombstone of ORD-4
    assert.are.equal("ORD-4", msgs[3].key)
    assert.is_nil(msgs[3].value)

    -- the schema-violating publish failed its event: dead letter, nothing produced
    local dlq = t.consume(mock, "eddy.dlq")
    assert.are.equal(1, #dlq)
    assert.are.equal("ORD-3", dlq[1].key)
    assert.are.equal("handler", dlq[1].headers["eddy.error.stage"])
    assert.matches("data/quantity: [^;]*many", dlq[1].headers["eddy.error.reason"])
    assert.are.same({ 4 }, t.committed(mock, "g-pub", "orders"))
  end)

  it("eddy replay prints what would be published", function()
    t.write(dir .. "/in.kv", "ORD-7\t" .. event("ORD-7", "approved") .. "\n")
    local conf = t.config(dir, nil, { extra = "schemas: { dir: " .. dir .. "/schemas }\n" })
    local rc, out = t.eddy("replay -c " .. t.q(conf) .. " --topic orders " .. t.q(dir .. "/in.kv"))
    assert.are.equal(0, rc, out)
    assert.matches('publish approved ORD-7 {"specversion":"1.0","id":"ORD-7"', out, 1, true)
    local bin = out:match("publish approved ORD%-7%-b (%b{})")
    assert.are.same({ order_id = "ORD-7", quantity = 10 }, cjson.decode(bin))
  end)

  -- The mock cluster of librdkafka 2.0 runs the transactional protocol
  -- (InitProducerId, AddPartitionsToTxn, TxnOffsetCommit, EndTxn) but does not
  -- store offsets committed in a transaction nor hide aborted records, so
  -- what can be shown here is the flow: every batch a committed transaction.
  it("publish.transactional: every batch's records and offsets in one committed transaction", function()
    local hdir = dir .. "/tx"
    t.sh("mkdir -p " .. t.q(hdir))
    t.write(hdir .. "/copy.lua", [[
return {
  on_event = function(ev, ctx)
    ctx.publish{ topic = "tx.out", type = "com.example.copy.v1", key = ev.key, data = { v = ev.data.version } }
  end,
}
]])
    local records = {}
    for i = 1, 300 do records[#records + 1] = { "ORD-" .. i, t.event("ORD-" .. i, i) } end
    t.produce(mock, "tx.in", records, dir)
    local conf = t.config(dir, mock, { group = "g-tx", topics = { "tx.in" }, handlers = hdir, batch = 50,
      store = dir .. "/tx.db", log_level = "debug", extra = "publish: { transactional: true }\n" })
    local rc, out = t.eddy("run -c " .. t.q(conf) .. " --exit-at-end", 120)
    assert.are.equal(0, rc, out)
    local _, txns = out:gsub("transaction committed", "")
    assert.is_true(txns >= 6, "transactions: " .. txns)
    assert.not_matches("transaction abort", out, 1, true)

    local rc2, text = t.sh("kcat -C -b " .. mock.bootstrap .. " -t tx.out -o beginning -e -q -f '%k\\n' " ..
      "-X isolation.level=read_committed", true)
    assert.are.equal(0, rc2, text)
    local seen, n = {}, 0
    for k in text:gmatch("[^\n]+") do
      assert.is_nil(seen[k], "published twice: " .. k)
      seen[k] = true
      n = n + 1
    end
    assert.are.equal(300, n)
  end)
end)
