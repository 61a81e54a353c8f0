-- The handlers that ship in handlers/ (order_proposals.lua,
-- rejected_proposals.lua) on fixture events, through `eddy replay`.
local t = require "eddy_test"
local cjson = require "cjson"

-- The data of an order proposal as JSON text, spelled as a producer would
-- (quantity 312.0, an empty lines array) so the stored text can be
-- compared byte for byte.
local function data_text(key, version, status, o)
  o = o or {}
  return string.format('{"order_id":"%s","product_id":"%s","location_id":"%s",' ..
    '"supplier_id":"SUP-00001","quantity":%s,"unit":"EA","order_date":"2025-01-14",' ..
    '"delivery_date":"2025-01-20T08:00:00Z","status":"%s","version":%d,"lines":[]}',
    key, o.product or "PROD-000001", o.location or "STORE-0001", o.quantity or "312.0",
    status, version)
end

-- A CloudEvent order proposal (t.event's envelope) carrying data_text.
local function event(key, version, status, o)
  o = o or {}
  local envelope = t.event(key, version, { drop = { "data" }, time = o.time, type = o.type })
  return envelope:sub(1, -2) .. ',"data":' .. data_text(key, version, status, o) .. "}"
end

local function correlation_id(version)
  return "c0ffee00-0000-4000-8000-" .. string.format("%012d", version)
end

local function kv(lines)
  return table.concat(lines, "\n") .. "\n"
end

-- key -> row of a table, value decoded into .data when decode is true.
local function rows(db, tbl, decode)
  local by_key = {}
  for _, r in ipairs(t.query(db, 'select key, value, topic, "partition", "offset" from ' ..
                                 tbl .. " order by key")) do
    if decode then r.data = cjson.decode(r.value) end
    by_key[r.key] = r
  end
  return by_key
end

local function keys(by_key)
  local list = {}
  for k in pairs(by_key) do list[#list + 1] = k end
  table.sort(list)
  return list
end

-- Every row of both tables, for comparing two states. order_proposals
-- keeps the original text of each value; a rejected_proposals value is
-- encoded by eddy, whose key order may differ from one process to the
-- next, so it is compared decoded.
local function snapshot(db)
  local rejected = t.query(db, 'select key, value, topic, "partition", "offset" from rejected_proposals order by key')
  for _, r in ipairs(rejected) do
    r.value = cjson.decode(r.value)
  end
  return {
    order_proposals = t.query(db, 'select key, value, topic, "partition", "offset" from order_proposals order by key'),
    rejected_proposals = rejected,
  }
end

-- How many times plain occurs in s.
local function count_of(s, plain)
  local n, from = 0, 1
  while true do
    local i, j = s:find(plain, from, true)
    if not i then return n end
    n, from = n + 1, j + 1
  end
end

describe("shipped handlers", function()
  local dir
  local stores = 0

  -- A fresh store and config for each case; the handlers are the repo's own.
  local function setup_store()
    stores = stores + 1
    local db = dir .. "/state" .. stores .. ".db"
    local conf = t.config(dir, nil, { handlers = t.root .. "/handlers", store = db,
                                      topics = { "customer-retail-001.order-proposals" } })
    return db, conf
  end

  local function replay(conf, input, args)
    return t.eddy("replay " .. (args or "") .. " -c " .. t.q(conf) .. " " .. t.q(input))
  end

  setup(function()
    dir = t.tmpdir()
  end)

  teardown(function()
    t.sh("rm -rf " .. t.q(dir))
  end)

  -- One topic's history: line n of the file is offset n - 1.
  local HISTORY = kv({
    "ORD-9\t",                                                                        -- 0: tombstone of nothing
    "ORD-1\t" .. event("ORD-1", 1, "proposed"),                                       -- 1
    "ORD-2\t" .. event("ORD-2", 1, "rejected", { location = "STORE-0002", product = "PROD-000002",
                                                 quantity = "20.0", time = "2025-01-14T13:00:00Z" }), -- 2
    "ORD-1\t" .. event("ORD-1", 2, "proposed", { quantity = "1234567890123456" }),    -- 3
    "ORD-3\t" .. event("ORD-3", 1, "rejected", { time = "2025-01-14T14:00:00Z" }),    -- 4
    "ORD-3\t" .. event("ORD-3", 2, "approved", { time = "2025-01-14T15:00:00Z" }),    -- 5
    "ORD-4\t" .. event("ORD-4", 1, "rejected"),                                       -- 6
    "ORD-4\t",                                                                        -- 7: tombstone
    "ORD-5\t" .. event("ORD-5", 1, "rejected", { time = "2025-01-14T16:00:00Z" }),    -- 8
    "ORD-5\t" .. event("ORD-5", 2, "rejected", { location = "STORE-0005", quantity = "55",
                                                 time = "2025-01-14T17:00:00Z" }),    -- 9
  })

  it("order_proposals holds the latest version of each proposal, its data text unchanged", function()
    local db, conf = setup_store()
    t.write(dir .. "/history.kv", HISTORY)
    local rc, out = replay(conf, dir .. "/history.kv")
    assert.are.equal(0, rc, out)
    assert.matches("10 records: 10 handled, 0 not subscribed, 0 invalid", out, 1, true)
    local got = rows(db, "order_proposals")
    assert.are.same({ "ORD-1", "ORD-2", "ORD-3", "ORD-5" }, keys(got))
    assert.are.equal(data_text("ORD-1", 2, "proposed", { quantity = "1234567890123456" }), got["ORD-1"].value)
    assert.are.equal(data_text("ORD-2", 1, "rejected", { location = "STORE-0002", product = "PROD-000002",
                                                         quantity = "20.0" }), got["ORD-2"].value)
    assert.are.equal(data_text("ORD-3", 2, "approved"), got["ORD-3"].value)
    assert.are.equal(data_text("ORD-5", 2, "rejected", { location = "STORE-0005", quantity = "55" }),
                     got["ORD-5"].value)
    assert.are.equal("history", got["ORD-1"].topic)
    assert.are.equal(3, got["ORD-1"].offset)
    assert.are.equal(5, got["ORD-3"].offset)
  end)

  it("rejected_proposals holds exactly the proposals rejected now, with where and when", function()
    local db, conf = setup_store()
    t.write(dir .. "/history.kv", HISTORY)
    local rc, out = replay(conf, dir .. "/history.kv")
    assert.are.equal(0, rc, out)
    local got = rows(db, "rejected_proposals", true)
    -- ORD-3 was approved after its rejection, ORD-4 was deleted.
    assert.are.same({ "ORD-2", "ORD-5" }, keys(got))
    assert.are.same({
      location_id = "STORE-0002", product_id = "PROD-000002", quantity = 20,
      correlation_id = correlation_id(1), rejected_at = "2025-01-14T13:00:00Z",
    }, got["ORD-2"].data)
    assert.are.same({
      location_id = "STORE-0005", product_id = "PROD-000001", quantity = 55,
      correlation_id = correlation_id(2), rejected_at = "2025-01-14T17:00:00Z",
    }, got["ORD-5"].data)
    assert.are.equal(9, got["ORD-5"].offset)
    -- each rejection is logged once, with its id and location
    assert.are.equal(5, count_of(out, "rejected_proposals.lua: order proposal rejected"), out)
    assert.matches('order proposal rejected [^\n]*"id":"ORD%-2"', out)
    assert.matches('order proposal rejected [^\n]*"location":"STORE%-0002"', out)
  end)

  it("a tombstone deletes the proposal from both tables", function()
    local db, conf = setup_store()
    t.write(dir .. "/before.kv", kv({
      "ORD-7\t" .. event("ORD-7", 1, "rejected"),
      "ORD-8\t" .. event("ORD-8", 1, "rejected"),
    }))
    local rc, out = replay(conf, dir .. "/before.kv")
    assert.are.equal(0, rc, out)
    assert.are.same({ "ORD-7", "ORD-8" }, keys(rows(db, "order_proposals")))
    assert.are.same({ "ORD-7", "ORD-8" }, keys(rows(db, "rejected_proposals")))
    t.write(dir .. "/tombstone.kv", "ORD-7\t\n")
    rc, out = replay(conf, dir .. "/tombstone.kv")
    assert.are.equal(0, rc, out)
    assert.matches("1 records: 1 handled", out, 1, true)
    assert.are.same({ "ORD-8" }, keys(rows(db, "order_proposals")))
    assert.are.same({ "ORD-8" }, keys(rows(db, "rejected_proposals")))
  end)

  it("a rejected proposal that is approved leaves rejected_proposals and stays in order_proposals", function()
    local db, conf = setup_store()
    t.write(dir .. "/rejected.kv", "ORD-6\t" .. event("ORD-6", 1, "rejected") .. "\n")
    local rc, out = replay(conf, dir .. "/rejected.kv")
    assert.are.equal(0, rc, out)
    assert.are.same({ "ORD-6" }, keys(rows(db, "rejected_proposals")))
    t.write(dir .. "/approved.kv", "ORD-6\t" .. event("ORD-6", 2, "approved") .. "\n")
    rc, out = replay(conf, dir .. "/approved.kv")
    assert.are.equal(0, rc, out)
    assert.are.same({}, keys(rows(db, "rejected_proposals")))
    local got = rows(db, "order_proposals", true)
    assert.are.same({ "ORD-6" }, keys(got))
    assert.are.equal("approved", got["ORD-6"].data.status)
    assert.are.equal(0, count_of(out, "order proposal rejected"), out)
  end)

  it("replaying the same input twice gives the same tables", function()
    local db, conf = setup_store()
    t.write(dir .. "/history.kv", HISTORY)
    local rc, out = replay(conf, dir .. "/history.kv")
    assert.are.equal(0, rc, out)
    local first = snapshot(db)
    assert.are.equal(4, #first.order_proposals)
    assert.are.equal(2, #first.rejected_proposals)
    rc, out = replay(conf, dir .. "/history.kv")
    assert.are.equal(0, rc, out)
    assert.are.same(first, snapshot(db))
  end)

  it("--dry-run prints the actions and the rejection log line, and writes nothing", function()
    local db, conf = setup_store()
    t.write(dir .. "/history.kv", HISTORY)
    local rc, out = replay(conf, dir .. "/history.kv", "--dry-run")
    assert.are.equal(0, rc, out)
    assert.matches("dry run, 10 records: 10 handled", out, 1, true)
    assert.matches("upsert order_proposals ORD-1 " ..
      data_text("ORD-1", 1, "proposed"):sub(1, 60), out, 1, true)
    assert.matches("upsert rejected_proposals ORD-2 {", out, 1, true)
    assert.matches("delete rejected_proposals ORD-1\n", out, 1, true)
    assert.matches("delete order_proposals ORD-4\n", out, 1, true)
    assert.matches("delete rejected_proposals ORD-4\n", out, 1, true)
    assert.matches("delete order_proposals ORD-9\n", out, 1, true)
    assert.are.equal(5, count_of(out, "rejected_proposals.lua: order proposal rejected"), out)
    assert.matches('order proposal rejected [^\n]*"id":"ORD%-5"', out)
    -- 8 events carry data; 5 of them are rejections
    assert.are.equal(8, count_of(out, "upsert order_proposals "), out)
    assert.are.equal(5, count_of(out, "upsert rejected_proposals "), out)
    local _, tables = t.sh("sqlite3 " .. t.q(db) .. " .tables", true)
    assert.is_nil(tables:match("proposals"), tables)
  end)

  it("rejected_proposals also takes other versions of the order-proposals type; order_proposals only v1", function()
    local db, conf = setup_store()
    local v2 = "com.relexsolutions.supply-chain.transactions.order-proposals.v2"
    t.write(dir .. "/v2.kv", kv({
      "ORD-1\t" .. event("ORD-1", 1, "rejected", { type = v2 }),
      "ORD-2\t" .. event("ORD-2", 1, "proposed", { type = "com.relexsolutions.supply-chain.transactions.orders.v1" }),
      "ORD-3\t" .. event("ORD-3", 1, "proposed"),
    }))
    local rc, out = replay(conf, dir .. "/v2.kv")
    assert.are.equal(0, rc, out)
    assert.matches("3 records: 2 handled, 1 not subscribed", out, 1, true)
    assert.are.same({ "ORD-1" }, keys(rows(db, "rejected_proposals")))
    assert.are.same({ "ORD-3" }, keys(rows(db, "order_proposals")))
  end)

  it("dead-letters an order proposal without data, naming the handler line", function()
    local db, conf = setup_store()
    local nodata = require("cjson").decode(t.event("ORD-7", 1))
    nodata.data = nil
    nodata = require("cjson").encode(nodata)
    t.write(dir .. "/nodata.kv", kv({ "ORD-7\t" .. nodata, "ORD-8\t" .. event("ORD-8", 1, "rejected") }))
    local rc, out = replay(conf, dir .. "/nodata.kv")
    assert.are.equal(1, rc, out)
    assert.matches("nodata.kv:1: handler order_proposals.lua: ", out, 1, true)
    assert.matches("order_proposals.lua:14: an order proposal needs its data object, got nil", out, 1, true)
    assert.are.same({ "ORD-8" }, keys(rows(db, "order_proposals")))
    assert.are.same({ "ORD-8" }, keys(rows(db, "rejected_proposals")))
  end)
end)
