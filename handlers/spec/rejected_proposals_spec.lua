-- handlers/rejected_proposals.lua through the test kit: `eddy test`.
local testing = require "eddy.testing"

local TYPE = "com.relexsolutions.supply-chain.transactions.order-proposals.v1"

describe("rejected_proposals.lua", function()
  local h

  before_each(function()
    h = assert(testing.handler("handlers/rejected_proposals.lua", {
      event = { type = TYPE, tenant = "customer-retail-001", topic = "customer-retail-001.order-proposals" },
      -- ORD-1 was rejected before the test starts
      store = { rejected_proposals = { ["ORD-1"] = { location_id = "STORE-0001", quantity = 5 } } },
    }))
  end)

  after_each(function()
    h:close()
  end)

  it("keeps a rejected proposal with where and when, and logs it", function()
    local r = h:send{
      key = "ORD-2", time = "2025-01-14T13:00:00Z", correlation_id = "c0ffee",
      data = { status = "rejected", location_id = "STORE-0002", product_id = "PROD-000002", quantity = 20 },
    }
    assert.are.equal("handled", r.outcome)
    assert.are.same({ {
      ns = "rejected_proposals", key = "ORD-2", json = r.upserts[1].json,
      value = { location_id = "STORE-0002", product_id = "PROD-000002", quantity = 20,
                correlation_id = "c0ffee", rejected_at = "2025-01-14T13:00:00Z" },
    } }, r.upserts)
    assert.are.same({ {
      handler = "rejected_proposals.lua", level = "info", msg = "order proposal rejected",
      fields = { id = "ORD-2", location = "STORE-0002" },
    } }, r.logs)
  end)

  it("forgets a rejected proposal once it is approved", function()
    assert.are.same({ location_id = "STORE-0001", quantity = 5 }, h:get("rejected_proposals", "ORD-1"))
    local r = h:send{ key = "ORD-1", data = { status = "approved", location_id = "STORE-0001" } }
    assert.are.same({ { ns = "rejected_proposals", key = "ORD-1" } }, r.deletes)
    assert.are.same({}, r.logs)
    assert.is_nil(h:get("rejected_proposals", "ORD-1"))
  end)

  it("forgets it on a tombstone", function()
    local r = h:send{ key = "ORD-1", deleted = true }
    assert.are.same({ { ns = "rejected_proposals", key = "ORD-1" } }, r.deletes)
    assert.is_nil(h:get("rejected_proposals", "ORD-1"))
  end)

  it("takes other versions of the type too", function()
    local r = h:send{ type = TYPE:gsub("v1$", "v2"), key = "ORD-3", data = { status = "rejected" } }
    assert.are.equal("handled", r.outcome)
    assert.are.equal("ORD-3", r.upserts[1].key)
  end)

  it("is idempotent: the same event twice leaves the same state", function()
    local ev = { key = "ORD-4", data = { status = "rejected", location_id = "STORE-0004", quantity = 1 } }
    h:send(ev)
    local once = h:get("rejected_proposals", "ORD-4")
    h:send(ev)
    assert.are.same(once, h:get("rejected_proposals", "ORD-4"))
  end)
end)
