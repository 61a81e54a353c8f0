-- Bad input gets a clear error and loses nothing: bad config, broken
-- handlers, huge and non-JSON values.
local t = require "eddy_test"

describe("bad input", function()
  local dir, mock

  setup(function()
    dir = t.tmpdir()
    mock = t.start_mock(dir, { "orders", "huge", "eddy.dlq" })
    t.handlers(dir, { ["orders.lua"] = t.ORDERS_HANDLER })
  end)

  teardown(function()
    t.stop_mock(mock)
    t.sh("rm -rf " .. t.q(dir))
  end)

  it("a bad config line stops start-up with file:line: key: message and exit 2", function()
    local path = dir .. "/bad.yaml"
    t.write(path, "kafka:\n  group.id: g\ntopics: [orders]\nbatch:\n  size: 0\n")
    local rc, out = t.eddy("run -c " .. t.q(path))
    assert.are.equal(2, rc, out)
    assert.matches(path .. ":5: batch.size: 0 is out of range 1..100000", out, 1, true)

    t.write(path, "kafka:\n  group.id: g\nstor: { path: x }\n")
    rc, out = t.eddy("run -c " .. t.q(path))
    assert.are.equal(2, rc, out)
    assert.matches(path .. ":3: stor: unknown key", out, 1, true)

    rc, out = t.eddy("run -c " .. t.q(dir .. "/missing.yaml"))
    assert.are.equal(2, rc, out)
    assert.matches("missing.yaml: No such file or directory", out, 1, true)
  end)

  it("a librdkafka property it does not know is reported as kafka.<key>", function()
    local conf = t.config(dir, mock, { extra = "" })
    local text = t.read(conf):gsub("kafka:\n", "kafka:\n  no.such.property: 1\n")
    t.write(dir .. "/k.yaml", text)
    local rc, out = t.eddy("run -c " .. t.q(dir .. "/k.yaml"))
    assert.are.equal(2, rc, out)
    assert.matches("kafka.no.such.property: No such configuration property", out, 1, true)
  end)

  it("an environment override replaces a file value", function()
    local path = dir .. "/env.yaml"
    t.write(path, "kafka:\n  group.id: g\ntopics: [orders]\nbatch: { size: 10 }\n")
    local rc, out = t.sh("EDDY_BATCH_SIZE=0 timeout 20 " .. t.q(t.bin) .. " run -c " .. t.q(path), true)
    assert.are.equal(2, rc, out)
    assert.matches("EDDY_BATCH_SIZE: batch.size: 0 is out of range", out, 1, true)
  end)

  it("a handler with a syntax error stops start-up naming file and line", function()
    t.handlers(dir .. "/broken",
      { ["oops.lua"] = "return {\n  on_event = function(ev, ctx)\n    local x = = 1\n  end,\n}\n" })
    local conf = t.config(dir, mock, { handlers = dir .. "/broken/handlers" })
    local rc, out = t.eddy("run -c " .. t.q(conf))
    assert.are.equal(2, rc, out)
    assert.matches("oops.lua:3:", out, 1, true)
  end)

  it("a huge valid value is stored whole; a huge non-JSON value is dead-lettered whole", function()
    local lines = {}
    for i = 1, 9000 do
      lines[#lines + 1] = string.format('{"line_no":%d,"sku":"SKU-%07d","quantity":%d}', i, i, i)
    end
    local ev = t.event("ORD-H", 1):gsub('"lines":%b[]', '"lines":[' .. table.concat(lines, ",") .. "]")
    assert.truthy(#ev > 400000)
    local junk = string.rep("x", 500000)
    t.produce(mock, "huge", { { "ORD-H", ev }, { "ORD-J", junk } }, dir)
    local conf = t.config(dir, mock, { group = "g-huge", topics = { "huge" }, store = dir .. "/huge.db" })
    local rc, out = t.eddy("run -c " .. t.q(conf) .. " --exit-at-end")
    assert.are.equal(0, rc, out)
    local n = t.query(dir .. "/huge.db",
      "select json_array_length(value, '$.lines') as n from orders where key = 'ORD-H'")[1].n
    assert.are.equal(9000, n)
    local dlq = t.consume(mock, "eddy.dlq")
    local found
    for _, m in ipairs(dlq) do
      if m.key == "ORD-J" then found = m end
    end
    assert.truthy(found)
    assert.are.equal(500000, #found.value)
    assert.matches("not JSON", found.headers["eddy.error.reason"])
    assert.are.same({ 2 }, t.committed(mock, "g-huge", "huge", 1))
  end)

  it("a missing handlers folder is an error at start-up", function()
    local conf = t.config(dir, mock, { handlers = dir .. "/nowhere" })
    local rc, out = t.eddy("run -c " .. t.q(conf))
    assert.are.equal(2, rc, out)
    assert.matches("nowhere", out, 1, true)
  end)

  it("a key the store cannot keep fails its event instead of holding the batch", function()
    local hdir = dir .. "/nulkey"
    t.sh("mkdir -p " .. t.q(hdir))
    t.write(hdir .. "/k.lua", [[
return {
  on_event = function(ev, ctx)
    local key = ev.key == "ORD-2" and "ORD\0002" or ev.key == "ORD-3" and "ORD\2553" or ev.key
    ctx.upsert("keys", key, { ok = true })
  end,
}
]])
    t.write(dir .. "/keys.kv", "ORD-1\t" .. t.event("ORD-1", 1) .. "\nORD-2\t" .. t.event("ORD-2", 1) ..
      "\nORD-3\t" .. t.event("ORD-3", 1) .. "\n")
    local conf = t.config(dir, nil, { handlers = hdir, store = dir .. "/keys.db", retries = 0 })
    local rc, out = t.eddy("replay -c " .. t.q(conf) .. " " .. t.q(dir .. "/keys.kv"))
    assert.are.equal(1, rc, out)
    assert.matches("keys.kv:2: handler k.lua: [^\n]*key must be UTF%-8 text without NUL bytes", out)
    assert.matches("keys.kv:3: handler k.lua: [^\n]*key must be UTF%-8 text without NUL bytes", out)
    assert.matches("3 records: 1 handled", out, 1, true)
  end)
end)
