-- eddy replay: the pipeline without Kafka, from NDJSON or KEY<TAB>VALUE.
local t = require "eddy_test"
local cjson = require "cjson"

describe("eddy replay", function()
  local dir, conf

  setup(function()
    dir = t.tmpdir()
    t.handlers(dir, { ["orders.lua"] = t.ORDERS_HANDLER })
    conf = t.config(dir, nil, {})
  end)

  teardown(function()
    t.sh("rm -rf " .. t.q(dir))
  end)

  it("applies NDJSON events, the key taken from id", function()
    t.write(dir .. "/in.ndjson", t.event("ORD-1", 1) .. "\n\n" .. t.event("ORD-2", 2) .. "\n" ..
      t.event("ORD-1", 3) .. "\n")
    local rc, out = t.eddy("replay -c " .. t.q(conf) .. " " .. t.q(dir .. "/in.ndjson"))
    assert.are.equal(0, rc, out)
    assert.matches("3 records: 3 handled", out, 1, true)
    local rows = t.query(dir .. "/state.db", "select key, value, topic, \"offset\" from orders order by key")
    assert.are.equal(2, #rows)
    assert.are.equal(3, cjson.decode(rows[1].value).version)
    assert.are.equal("in", rows[1].topic)
    assert.are.equal(2, rows[1].offset)
  end)

  it("reads KEY<TAB>VALUE from stdin; an empty value is a tombstone", function()
    t.write(dir .. "/in.kv", "ORD-1\t" .. t.event("ORD-1", 5) .. "\nORD-2\t\n")
    local rc, out = t.eddy("replay -c " .. t.q(conf) .. " - < " .. t.q(dir .. "/in.kv"))
    assert.are.equal(0, rc, out)
    local rows = t.query(dir .. "/state.db", "select key, value from orders order by key")
    assert.are.equal(1, #rows)
    assert.are.equal("ORD-1", rows[1].key)
    assert.are.equal(5, cjson.decode(rows[1].value).version)
  end)

  it("--dry-run prints the actions and changes nothing", function()
    local before = t.query(dir .. "/state.db", "select key, value from orders order by key")
    t.write(dir .. "/dry.kv", "ORD-9\t" .. t.event("ORD-9", 1) .. "\nORD-1\t\n")
    local rc, out = t.eddy("replay --dry-run -c " .. t.q(conf) .. " " .. t.q(dir .. "/dry.kv"))
    assert.are.equal(0, rc, out)
    assert.matches("upsert orders ORD-9 {", out, 1, true)
    assert.matches("delete orders ORD-1", out, 1, true)
    assert.matches("dry run", out, 1, true)
    assert.are.same(before, t.query(dir .. "/state.db", "select key, value from orders order by key"))
  end)

  it("--dry-run shows what handlers wrote one line each, whatever the text holds", function()
    t.handlers(dir .. "/noisy", { ["noisy.lua"] = [[
return {
  on_event = function(ev, ctx)
    ctx.log("info", "first\nforged: line", { note = "a\tb" })
    ctx.upsert("noisy", ev.key, { text = "x\ny" })
  end,
}
]] })
    local c = t.config(dir .. "/noisy", nil, { handlers = dir .. "/noisy/handlers", store = dir .. "/noisy.db" })
    t.write(dir .. "/noisy.kv", "ORD-9\t" .. t.event("ORD-9", 1) .. "\n")
    local rc, out = t.eddy("replay --dry-run -c " .. t.q(c) .. " " .. t.q(dir .. "/noisy.kv"))
    assert.are.equal(0, rc, out)
    assert.matches("info noisy.lua: first\\nforged: line", out, 1, true)
    assert.is_nil(out:find("\nforged", 1, true), out)
    assert.matches('upsert noisy ORD-9 {"text":"x\\ny"}', out, 1, true)
  end)

  it("reports invalid events with the dead-letter reason and exits 1", function()
    t.write(dir .. "/bad.kv", table.concat({
      "ORD-1\t" .. t.event("ORD-1", 1),
      "ORD-2\t{\"id\": 1",
      "ORD-3\t" .. t.event("ORD-4", 1),
      "ORD-5\t" .. t.event("ORD-5", 1, { time = "2025-02-30T00:00:00Z" }),
    }, "\n") .. "\n")
    local rc, out = t.eddy("replay -c " .. t.q(conf) .. " " .. t.q(dir .. "/bad.kv"))
    assert.are.equal(1, rc, out)
    assert.matches("bad.kv:2: envelope: value is not JSON", out, 1, true)
    assert.matches('bad.kv:3: envelope: key "ORD-3" does not equal id "ORD-4"', out, 1, true)
    assert.matches("bad.kv:4: envelope: time", out, 1, true)
    assert.matches("4 records: 1 handled", out, 1, true)
  end)

  it("keeps JSON null, empty arrays and objects, and number spelling unchanged", function()
    local value = '{"specversion":"1.0","type":"t.v1","source":"s","id":"K1",' ..
      '"meta":{"tenant":"x"},"data":{"a":null,"b":[],"c":{},"d":[1,null,[]],"e":312.0,"f":1e3}}'
    t.write(dir .. "/nulls.kv", "K1\t" .. value .. "\n")
    t.handlers(dir .. "/rt", { ["copy.lua"] = [[
return {
  on_event = function(ev, ctx)
    ctx.upsert("same", ev.key, ev.data)
    local copy = {}
    for k, v in pairs(ev.data) do copy[k] = v end
    copy.g = json.null
    ctx.upsert("changed", ev.key, copy)
  end,
}
]] })
    local c2 = t.config(dir, nil, { handlers = dir .. "/rt/handlers", store = dir .. "/rt.db" })
    local rc, out = t.eddy("replay -c " .. t.q(c2) .. " " .. t.q(dir .. "/nulls.kv"))
    assert.are.equal(0, rc, out)
    local same = t.query(dir .. "/rt.db", "select value from same")[1].value
    assert.are.equal('{"a":null,"b":[],"c":{},"d":[1,null,[]],"e":312.0,"f":1e3}', same)
    local changed = cjson.decode(t.query(dir .. "/rt.db", "select value from changed")[1].value)
    local raw = t.query(dir .. "/rt.db", "select value from changed")[1].value
    assert.are.equal(cjson.null, changed.a)
    assert.are.equal(cjson.null, changed.g)
    assert.matches('"b":%[%]', raw)
    assert.matches('"c":{}', raw)
    assert.matches('"d":%[1,null,%[%]%]', raw)
  end)

  it("undoes every write of a failed event; ctx.get sees the event's own writes", function()
    t.handlers(dir .. "/undo", { ["a.lua"] = [[
return {
  on_event = function(ev, ctx)
    ctx.upsert("seen", ev.key, { v = ev.data.version })
    ctx.delete("gone", ev.key)
    local mine = ctx.get("Seen", ev.key)
    assert(mine.v == ev.data.version, "ctx.get did not see the write")
    if ev.data.version == 2 then error("no version 2\nforged: line") end
  end,
}
]] })
    local c3 = t.config(dir, nil, { handlers = dir .. "/undo/handlers", store = dir .. "/undo.db",
                                    retries = 0 })
    t.write(dir .. "/undo0.kv", "K1\t" .. t.event("K1", 1) .. "\nK2\t" .. t.event("K2", 1) .. "\n")
    local rc, out = t.eddy("replay -c " .. t.q(c3) .. " " .. t.q(dir .. "/undo0.kv"))
    assert.are.equal(0, rc, out)
    t.sh("sqlite3 " .. t.q(dir .. "/undo.db") .. " \"create table gone(key text primary key, value text, updated_at text, topic text, partition integer, 'offset' integer); insert into gone(key, value, updated_at) values ('K2', '1', 'x')\"")
    t.write(dir .. "/undo.kv", "K2\t" .. t.event("K2", 2) .. "\nK3\t" .. t.event("K3", 3) .. "\n")
    rc, out = t.eddy("replay -c " .. t.q(c3) .. " " .. t.q(dir .. "/undo.kv"))
    assert.are.equal(1, rc, out)
    assert.matches("undo.kv:1: handler a.lua: ", out, 1, true)
    -- the reason stays on its report line
    assert.matches("a.lua:7: no version 2\\nforged: line\n", out, 1, true)
    local seen = {}
    for _, r in ipairs(t.query(dir .. "/undo.db", "select key, value from seen order by key")) do
      seen[r.key] = r.value
    end
    assert.are.same({ K1 = '{"v":1}', K2 = '{"v":1}', K3 = '{"v":3}' }, seen)
    assert.are.equal(1, #t.query(dir .. "/undo.db", "select key from gone where key = 'K2'"))
  end)

  it("loads the shipped configs (conf/eddy.yaml, examples/production.yaml)", function()
    local rc, out = t.sh("KAFKA_BOOTSTRAP=broker:9092 KAFKA_API_KEY=k KAFKA_API_SECRET=s" ..
      " SCHEMA_REGISTRY_URL=https://registry.example.com SR_API_KEY=k SR_API_SECRET=s" ..
      " OPS_WEBHOOK_URL=https://hooks.example.com/eddy OPS_WEBHOOK_SECRET=whsec_c2VjcmV0" ..
      " EDDY_DATA=" .. t.q(dir) .. " " .. t.q(t.bin) ..
      " replay -c examples/production.yaml --dry-run /dev/null", true)
    assert.are.equal(0, rc, out)
    rc, out = t.sh("EDDY_STORE_PATH=" .. t.q(dir .. "/c.db") .. " " .. t.q(t.bin) ..
      " replay -c conf/eddy.yaml --dry-run /dev/null", true)
    assert.are.equal(0, rc, out)
    rc, out = t.sh("env -u KAFKA_API_KEY " .. t.q(t.bin) ..
      " replay -c examples/production.yaml --dry-run /dev/null", true)
    assert.are.equal(2, rc, out)
    assert.matches("examples/production.yaml:11: kafka.bootstrap.servers: ${KAFKA_BOOTSTRAP} is not set", out, 1, true)
  end)
end)
