-- handlers/order_proposals.lua through the test kit: `eddy test`.
local testing = require "eddy.testing"
local json = testing.json

local TYPE = "com.relexsolutions.supply-chain.transactions.order-proposals.v1"

-- The data of an order proposal; o overrides fields.
local function proposal(key, o)
  local data = {
    order_id = key, product_id = "PROD-000001", location_id = "STORE-0001",
    supplier_id = "SUP-00001", quantity = 312, unit = "EA", order_date = "2025-01-14",
    delivery_date = "2025-01-20T08:00:00Z", status = "proposed", version = 1,
    lines = json.array(),
  }
  for k, v in pairs(o or {}) do data[k] = v end
  return data
end

describe("order_proposals.lua", function()
  local h

  before_each(function()
    h = assert(testing.handler("handlers/order_proposals.lua", {
      event = { type = TYPE, tenant = "customer-retail-001", topic = "customer-retail-001.order-proposals" },
    }))
  end)

  after_each(function()
    h:close()
  end)

  it("keeps the latest version of each proposal", function()
    h:send{ key = "ORD-1", data = proposal("ORD-1") }
    local r = h:send{ key = "ORD-1", data = proposal("ORD-1", { version = 2, status = "approved" }) }
    assert.are.equal("handled", r.outcome)
    assert.are.equal(1, #r.upserts)
    assert.are.equal("order_proposals", r.upserts[1].ns)
    assert.are.equal("ORD-1", r.upserts[1].key)
    assert.are.same(proposal("ORD-1", { version = 2, status = "approved" }), h:get("order_proposals", "ORD-1"))
  end)

  it("stores the data as the producer spelled it", function()
    -- a record's value as it was produced: 312.0 and [] stay as written
    local value = '{"specversion":"1.0","type":"' .. TYPE .. '","source":"urn:test","id":"ORD-2",' ..
      '"meta":{"tenant":"customer-retail-001"},"data":{"order_id":"ORD-2","quantity":312.0,"lines":[]}}'
    local r = h:send{ key = "ORD-2", value = value }
    assert.are.equal('{"order_id":"ORD-2","quantity":312.0,"lines":[]}', r.upserts[1].json)
  end)

  it("deletes the proposal on a tombstone", function()
    h:put("order_proposals", "ORD-3", proposal("ORD-3"))
    local r = h:send{ key = "ORD-3", deleted = true }
    assert.are.same({ { ns = "order_proposals", key = "ORD-3" } }, r.deletes)
    assert.is_nil(h:get("order_proposals", "ORD-3"))
  end)

  it("takes only version 1 of the type", function()
    local r = h:send{ type = TYPE:gsub("v1$", "v2"), key = "ORD-4", data = proposal("ORD-4") }
    assert.are.equal("skipped", r.outcome)
    assert.is_nil(h:get("order_proposals", "ORD-4"))
  end)

  it("dead-letters a proposal without data, naming the line", function()
    local r = h:send{ key = "ORD-5" }
    assert.are.equal("dead", r.outcome)
    assert.are.same({
      stage = "handler", handler = "order_proposals.lua",
      reason = "handlers/order_proposals.lua:14: an order proposal needs its data object, got nil",
    }, r.dead_letter)
    assert.are.same({}, r.upserts)
  end)

  describe("with conf/eddy.yaml", function()
    local conf_h

    before_each(function()
      conf_h = assert(testing.handler("handlers/order_proposals.lua", { config = "conf/eddy.yaml" }))
    end)

    after_each(function()
      conf_h:close()
    end)

    it("dead-letters data that breaks the schema before the handler runs", function()
      local r = conf_h:send{ type = TYPE, key = "ORD-6", data = proposal("ORD-6", { status = "lost" }) }
      assert.are.equal("dead", r.outcome)
      assert.are.equal("schema", r.dead_letter.stage)
      assert.matches("/status", r.dead_letter.reason, 1, true)
      assert.is_nil(conf_h:get("order_proposals", "ORD-6"))
    end)

    it("replays the example events: four break the schema, one the envelope", function()
      local r = conf_h:replay("examples/events/customer-retail-001.order-proposals.kv")
      assert.are.equal(61, #r.records)
      local lines = {}
      for _, dl in ipairs(r.dead_letters) do lines[#lines + 1] = dl.line .. " " .. dl.stage end
      assert.are.same({ "24 schema", "28 schema", "32 schema", "37 schema", "61 envelope" }, lines)
      assert.matches('key "ORD-78" does not equal id "ORD-77"', r.dead_letters[5].reason, 1, true)
      assert.are.equal(56, #r.upserts + #r.deletes)
      assert.is_nil(conf_h:get("order_proposals", "ORD-78"))
    end)
  end)
end)
