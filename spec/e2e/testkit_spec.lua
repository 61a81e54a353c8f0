-- eddy test and eddy new handler: busted specs of handlers run inside the
-- eddy binary with the test kit (eddy.testing), no broker.
local t = require "eddy_test"

-- Runs eddy with args in folder dir; exit code and combined output.
local function eddy_in(dir, args)
  return t.sh("cd " .. t.q(dir) .. " && timeout 60 " .. t.q(t.bin) .. " " .. args, true)
end

-- busted's summary line: successes, failures, errors.
local function summary(out)
  local ok, failed, errors = out:match("(%d+) success%a* / (%d+) failures? / (%d+) errors?")
  assert(ok, "no summary line in: " .. out)
  return tonumber(ok), tonumber(failed), tonumber(errors)
end

local ORDERS = [[
return {
  subscribe = { types = { "com.example.order.*" } },
  on_event = function(ev, ctx)
    if ev.deleted then return ctx.delete("orders", ev.key) end
    if ev.data.quantity < 0 then
      error("negative quantity " .. ev.data.quantity)
    end
    local before = ctx.get("orders", ev.key)
    local total = (before and before.total or 0) + ev.data.quantity
    ctx.upsert("orders", ev.key, { total = total })
    if total > 100 then
      ctx.alert{ summary = "large order " .. ev.key, key = ev.key }
    end
  end,
}
]]

describe("eddy test", function()
  local dir

  before_each(function()
    dir = t.tmpdir()
    t.handlers(dir, { ["orders.lua"] = ORDERS })
    t.sh("mkdir -p " .. t.q(dir .. "/handlers/spec"))
  end)

  after_each(function()
    t.sh("rm -rf " .. t.q(dir))
  end)

  local function spec(name, body)
    t.write(dir .. "/handlers/spec/" .. name, 'local testing = require "eddy.testing"\n' .. body)
  end

  it("runs the specs of handlers/spec/ and exits 0 when they pass", function()
    spec("orders_spec.lua", [[
describe("orders", function()
  it("adds up quantities", function()
    local h = assert(testing.handler("handlers/orders.lua", { event = { type = "com.example.order.v1" } }))
    h:send{ key = "A", data = { quantity = 2 } }
    local r = h:send{ key = "A", data = { quantity = 3 } }
    assert.are.same({ { ns = "orders", key = "A", value = { total = 5 }, json = '{"total":5}' } }, r.upserts)
    assert.are.same({ total = 5 }, h:get("orders", "A"))
    h:close()
  end)
  it("skips other types", function()
    local h = assert(testing.handler("handlers/orders.lua"))
    assert.are.equal("skipped", h:send{ type = "com.example.invoice.v1", key = "B", data = {} }.outcome)
    h:close()
  end)
end)
]])
    -- alert rules beside the handlers are not the handler's: the kit leaves them out
    t.sh("mkdir -p " .. t.q(dir .. "/rules"))
    t.write(dir .. "/rules/broken.yaml", "- name: [not a rule\n")
    local rc, out = eddy_in(dir, "test")
    assert.are.equal(0, rc, out)
    assert.are.same({ 2, 0, 0 }, { summary(out) })
  end)

  it("exits 1 with busted's report when a spec fails or errs", function()
    spec("fail_spec.lua", [[
describe("orders", function()
  it("passes", function() assert.is_true(true) end)
  it("expects the wrong total", function()
    local h = assert(testing.handler("handlers/orders.lua", { event = { type = "com.example.order.v1" } }))
    h:send{ key = "A", data = { quantity = 2 } }
    assert.are.same({ total = 3 }, h:get("orders", "A"))
  end)
  it("misuses the kit", function()
    local h = assert(testing.handler("handlers/orders.lua"))
    h:send{ key = "A", data = {} } -- no type
  end)
end)
]])
    local rc, out = eddy_in(dir, "test")
    assert.are.equal(1, rc, out)
    assert.are.same({ 1, 1, 1 }, { summary(out) })
    assert.matches("fail_spec.lua:7: Expected objects to be the same", out, 1, true)
    assert.matches("fail_spec.lua:11: send: type is required", out, 1, true)
  end)

  it("runs only the spec files it is given, with busted's options", function()
    spec("a_spec.lua", 'it("a", function() end)\n')
    spec("b_spec.lua", 'it("b", function() error("b runs") end)\n')
    local rc, out = eddy_in(dir, "test handlers/spec/a_spec.lua")
    assert.are.equal(0, rc, out)
    assert.are.same({ 1, 0, 0 }, { summary(out) })
    rc, out = eddy_in(dir, "test -o TAP")
    assert.are.equal(1, rc, out)
    assert.matches("ok 1 - a", out, 1, true)
    assert.matches("not ok 2 - b", out, 1, true)
  end)

  it("shows a handler error as a dead letter with stage, handler and line", function()
    spec("dead_spec.lua", [[
it("dead-letters a negative quantity", function()
  local h = assert(testing.handler("handlers/orders.lua", { event = { type = "com.example.order.v1" } }))
  local r = h:send{ key = "A", data = { quantity = -1 } }
  assert.are.equal("dead", r.outcome)
  assert.are.same({ stage = "handler", handler = "orders.lua",
                    reason = "handlers/orders.lua:6: negative quantity -1" }, r.dead_letter)
  assert.are.same({}, r.upserts)
  assert.is_nil(h:get("orders", "A"))
  -- an envelope that is not JSON, a handler file that is not there
  r = h:send{ key = "A", value = "{not json" }
  assert.are.equal("envelope", r.dead_letter.stage)
  assert.is_nil(r.dead_letter.handler)
  local missing, err = testing.handler("handlers/missing.lua")
  assert.is_nil(missing)
  assert.are.equal("handlers/missing.lua: No such file or directory", err)
end)
]])
    local rc, out = eddy_in(dir, "test")
    assert.are.equal(0, rc, out)
    assert.are.same({ 1, 0, 0 }, { summary(out) })
  end)

  it("reports a handler that does not load as testing.handler's error", function()
    t.write(dir .. "/handlers/broken.lua", "return {\n  on_event = function(ev, ctx)\n    x = = 1\n  end,\n}\n")
    spec("load_spec.lua", [[
it("does not load", function()
  local h, err = testing.handler("handlers/broken.lua")
  assert.is_nil(h)
  assert.are.equal("handlers/broken.lua:3: unexpected symbol near '='", err)
  h, err = testing.handler("handlers")
  assert.is_nil(h)
  assert.are.equal("handlers/broken.lua:3: unexpected symbol near '='", err)
end)
]])
    local rc, out = eddy_in(dir, "test")
    assert.are.equal(0, rc, out)
    assert.are.same({ 1, 0, 0 }, { summary(out) })
  end)

  it("pre-seeds the store the handler reads, and records alerts with the config's sinks", function()
    spec("seed_spec.lua", [[
it("adds to the seeded total and alerts past 100", function()
  local h = assert(testing.handler("handlers/orders.lua", {
    event = { type = "com.example.order.v1", tenant = "acme" },
    store = { orders = { A = { total = 98 }, B = { total = 1 } } },
    config = { alerts = { sinks = { ops = { type = "webhook", url = "http://127.0.0.1:9/" } } } },
  }))
  local r = h:send{ key = "A", data = { quantity = 5 } }
  assert.are.same({ total = 103 }, r.upserts[1].value)
  assert.are.equal(1, #r.alerts)
  assert.are.equal("ops", r.alerts[1].sink)
  assert.are.equal("large order A", r.alerts[1].summary)
  assert.are.equal("A", r.alerts[1].key)
  assert.are.equal("acme", r.alerts[1].event.tenant)
  -- the same alert again is deduplicated, as eddy run would
  r = h:send{ key = "A", data = { quantity = 1 } }
  assert.is_true(r.alerts[1].repeated)
  assert.are.same({ total = 1 }, h:get("orders", "B"))
  assert.is_nil(h:get("orders", "C"))
end)
]])
    local rc, out = eddy_in(dir, "test")
    assert.are.equal(0, rc, out)
    assert.are.same({ 1, 0, 0 }, { summary(out) })
  end)

  it("says so when there are no specs", function()
    t.sh("rm -rf " .. t.q(dir .. "/handlers/spec"))
    local rc, out = eddy_in(dir, "test")
    assert.are.equal(1, rc, out)
    assert.matches("handlers/spec", out, 1, true)
  end)

  it("passes on the shipped handlers' specs", function()
    local rc, out = t.eddy("test")
    assert.are.equal(0, rc, out)
    local ok, failed, errors = summary(out)
    assert.is_true(ok >= 12, out)
    assert.are.same({ 0, 0 }, { failed, errors })
  end)
end)

describe("eddy new handler", function()
  local dir

  before_each(function()
    dir = t.tmpdir()
  end)

  after_each(function()
    t.sh("rm -rf " .. t.q(dir))
  end)

  it("writes a handler and a spec that passes under eddy test", function()
    local rc, out = eddy_in(dir, "new handler big_orders")
    assert.are.equal(0, rc, out)
    assert.matches("created handlers/big_orders.lua\ncreated handlers/spec/big_orders_spec.lua\n", out, 1, true)
    assert.matches('ctx.upsert("big_orders", ev.key, ev.data)', t.read(dir .. "/handlers/big_orders.lua"), 1, true)
    rc, out = eddy_in(dir, "test")
    assert.are.equal(0, rc, out)
    assert.are.same({ 4, 0, 0 }, { summary(out) })
    -- the spec can fail: it checks what the handler does
    local src = t.read(dir .. "/handlers/big_orders.lua")
    t.write(dir .. "/handlers/big_orders.lua", (src:gsub('ctx.upsert%("big_orders"', 'ctx.upsert("other"')))
    rc, out = eddy_in(dir, "test")
    assert.are.equal(1, rc, out)
    local _, failed = summary(out)
    assert.are.equal(1, failed, out)
    assert.matches("big_orders_spec.lua:25: Expected objects to be equal.", out, 1, true)
  end)

  it("refuses to overwrite and refuses names that are not namespaces", function()
    assert.are.equal(0, (eddy_in(dir, "new handler orders")))
    t.write(dir .. "/handlers/orders.lua", "-- mine\n")
    local rc, out = eddy_in(dir, "new handler orders")
    assert.are.equal(1, rc, out)
    assert.matches("handlers/orders.lua exists", out, 1, true)
    assert.are.equal("-- mine\n", t.read(dir .. "/handlers/orders.lua"))
    rc, out = eddy_in(dir, "new handler 9lives")
    assert.are.equal(2, rc, out)
    rc, out = eddy_in(dir, "new rules x")
    assert.are.equal(2, rc, out)
    assert.matches("usage: eddy new handler NAME", out, 1, true)
  end)
end)
