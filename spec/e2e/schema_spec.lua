-- Schemas: eddy validate, eddy check, and the service dead-lettering data
-- that breaks its schema (local folder, schemas.map, dataschema, required).
local t = require "eddy_test"
local cjson = require "cjson"

local SCHEMA = "conf/schemas/order-proposal.schema.json"

-- The data of t.event as a JSON line, with fields changed by o.
local function data(o)
  local d = cjson.decode(t.event("ORD-1", 1)).data
  for k, v in pairs(o or {}) do d[k] = v end
  return cjson.encode(d)
end

describe("eddy validate --schema", function()
  local dir

  setup(function() dir = t.tmpdir() end)
  teardown(function() t.sh("rm -rf " .. t.q(dir)) end)

  it("prints one line per instance and exits 0 when all are valid", function()
    t.write(dir .. "/ok.ndjson", data() .. "\n\n" .. data({ quantity = 0 }) .. "\n")
    local rc, out = t.eddy("validate --schema " .. SCHEMA .. " " .. t.q(dir .. "/ok.ndjson"))
    assert.are.equal(0, rc, out)
    local _, n = out:gsub(": valid\n", "")
    assert.are.equal(2, n, out)
  end)

  it("names the instance path, the keyword and the value of each error; exits 1", function()
    t.write(dir .. "/bad.ndjson", data() .. "\n" .. data({ quantity = -3, unit = "XX" }) .. "\n" ..
      "[1, 2]\n" .. "{\"truncated\": \n")
    local rc, out = t.eddy("validate --schema " .. SCHEMA .. " " .. t.q(dir .. "/bad.ndjson"))
    assert.are.equal(1, rc, out)
    assert.matches("bad.ndjson:1: valid", out, 1, true)
    assert.matches("bad.ndjson:2: invalid", out, 1, true)
    assert.matches("/quantity: [^\n]*%-3[^\n]*%(keyword /properties/quantity/minimum%)", out)
    assert.matches("/unit: [^\n]*XX[^\n]*%(keyword /properties/unit/enum%)", out)
    assert.matches("bad.ndjson:3: invalid\n  /: [^\n]*%(keyword /type%)", out)
    assert.matches("bad.ndjson:4: invalid: not JSON", out, 1, true)
  end)

  it("takes any JSON value as an instance, top-level scalars included", function()
    t.write(dir .. "/scalar.json", [[{"$schema": "https://json-schema.org/draft/2020-12/schema",
      "type": ["null", "boolean", "integer", "string"], "maxLength": 3}]])
    t.write(dir .. "/scalars.ndjson", 'null\ntrue\nfalse\n12\n"x"\n 1.5 \n"long"\n')
    local rc, out = t.eddy("validate --schema " .. t.q(dir .. "/scalar.json") .. " " ..
      t.q(dir .. "/scalars.ndjson"))
    assert.are.equal(1, rc, out)
    for i = 1, 5 do assert.matches("scalars.ndjson:" .. i .. ": valid", out, 1, true) end
    assert.matches("scalars.ndjson:6: invalid\n  /: [^\n]*%(keyword /type%)", out)
    assert.matches("scalars.ndjson:7: invalid\n  /: [^\n]*%(keyword /maxLength%)", out)
    assert.is_nil(out:match("not JSON"), out)

    rc, out = t.sh("echo null | " .. t.q(t.bin) .. " validate --schema " .. SCHEMA .. " -", true)
    assert.are.equal(1, rc, out)
    assert.matches("-:1: invalid\n  /: [^\n]*%(keyword /type%)", out)
  end)

  it("reads standard input and writes the basic output shape with --output json", function()
    t.write(dir .. "/in.ndjson", data() .. "\n" .. data():gsub('"lines":%b[]', '"lines":[]') .. "\n")
    local rc, out = t.eddy("validate --output json --schema " .. SCHEMA .. " - < " .. t.q(dir .. "/in.ndjson"))
    assert.are.equal(1, rc, out)
    local results = {}
    for line in out:gmatch("[^\n]+") do results[#results + 1] = cjson.decode(line) end
    assert.are.equal(2, #results)
    assert.is_true(results[1].valid)
    assert.is_false(results[2].valid)
    local e = results[2].errors[1]
    assert.are.equal("/lines", e.instanceLocation)
    assert.are.equal("/properties/lines/minItems", e.keywordLocation)
    assert.matches("order%-proposals%.v1#/properties/lines/minItems$", e.absoluteKeywordLocation)
    assert.is_string(e.error)
  end)

  it("resolves remote-looking $refs through --map, and never over the network", function()
    t.sh("mkdir -p " .. t.q(dir .. "/remote/common"))
    t.write(dir .. "/remote/common/money.json", [[{"$id": "https://schemas.example.com/common/money.json",
      "type": "object", "required": ["amount", "currency"],
      "properties": {"amount": {"type": "number"}, "currency": {"type": "string", "pattern": "^[A-Z]{3}$"}}}]])
    t.write(dir .. "/price.json", [[{"$schema": "https://json-schema.org/draft/2020-12/schema",
      "type": "object", "properties": {"price": {"$ref": "https://schemas.example.com/common/money.json"}}}]])
    t.write(dir .. "/in.ndjson", '{"price": {"amount": 3.5, "currency": "EUR"}}\n' ..
      '{"price": {"amount": 3.5, "currency": "euro"}}\n')
    local rc, out = t.eddy("validate --schema " .. t.q(dir .. "/price.json") ..
      " --map https://schemas.example.com/=" .. t.q(dir .. "/remote") .. " " .. t.q(dir .. "/in.ndjson"))
    assert.are.equal(1, rc, out)
    assert.matches("in.ndjson:1: valid", out, 1, true)
    assert.matches("/price/currency: [^\n]*euro", out)

    rc, out = t.eddy("validate --schema " .. t.q(dir .. "/price.json") .. " " .. t.q(dir .. "/in.ndjson"))
    assert.are.equal(2, rc, out)
    assert.matches("https://schemas.example.com/common/money.json", out, 1, true)
    assert.matches("no schemas.map prefix matches it", out, 1, true)
  end)

  it("takes the dialect of schemas without $schema from --dialect", function()
    -- prefixItems is a 2020-12 keyword: draft-07 ignores it
    t.write(dir .. "/tuple.json", '{"prefixItems": [{"type": "string"}]}')
    t.write(dir .. "/in.ndjson", "[1]\n")
    local rc, out = t.eddy("validate --schema " .. t.q(dir .. "/tuple.json") .. " " .. t.q(dir .. "/in.ndjson"))
    assert.are.equal(0, rc, out)
    rc, out = t.eddy("validate --dialect 2020-12 --schema " .. t.q(dir .. "/tuple.json") .. " " ..
      t.q(dir .. "/in.ndjson"))
    assert.are.equal(1, rc, out)
    assert.matches("/0: ", out, 1, true)
  end)

  it("asserts formats only with --format-assert", function()
    t.write(dir .. "/in.ndjson", data({ order_date = "2025-02-30" }) .. "\n")
    local rc, out = t.eddy("validate --schema " .. SCHEMA .. " " .. t.q(dir .. "/in.ndjson"))
    assert.are.equal(0, rc, out)
    rc, out = t.eddy("validate --format-assert --schema " .. SCHEMA .. " " .. t.q(dir .. "/in.ndjson"))
    assert.are.equal(1, rc, out)
    assert.matches("/order_date: [^\n]*%(keyword /properties/order_date/format%)", out)
  end)

  it("exits 2 on errors of use: bad schema, missing file, unknown dialect", function()
    t.write(dir .. "/broken.json", '{"type": 5}')
    t.write(dir .. "/in.ndjson", "1\n")
    local rc, out = t.eddy("validate --schema " .. t.q(dir .. "/broken.json") .. " " .. t.q(dir .. "/in.ndjson"))
    assert.are.equal(2, rc, out)
    assert.matches("broken.json", out, 1, true)
    rc, out = t.eddy("validate --schema " .. t.q(dir .. "/nope.json") .. " " .. t.q(dir .. "/in.ndjson"))
    assert.are.equal(2, rc, out)
    assert.matches("nope.json", out, 1, true)
    rc, out = t.eddy("validate --dialect draft-99 --schema " .. SCHEMA .. " " .. t.q(dir .. "/in.ndjson"))
    assert.are.equal(2, rc, out)
    assert.matches("--dialect", out, 1, true)
    rc, out = t.eddy("validate " .. t.q(dir .. "/in.ndjson"))
    assert.are.equal(2, rc, out)
    assert.matches("usage: eddy validate", out, 1, true)
  end)
end)

describe("schemas in the service", function()
  local dir, mock

  -- A config whose order proposals are checked against the shipped schema.
  local function schema_conf(extra, opts)
    opts = opts or {}
    opts.extra = "schemas:\n  dir: conf/schemas\n  types:\n    \"" .. t.TYPE ..
      "\": order-proposal.schema.json\n" .. (extra or "")
    return t.config(dir, mock, opts)
  end

  setup(function()
    dir = t.tmpdir()
    mock = t.start_mock(dir, { "orders", "eddy.dlq", "req", "req.dlq" })
    t.handlers(dir, { ["orders.lua"] = t.ORDERS_HANDLER })
  end)

  teardown(function()
    t.stop_mock(mock)
    t.sh("rm -rf " .. t.q(dir))
  end)

  it("eddy validate -c checks records as the service does", function()
    local conf = schema_conf()
    local bad = cjson.decode(t.event("ORD-2", 1))
    bad.data.lines[1].quantity = "ten"
    t.write(dir .. "/in.kv", table.concat({
      "ORD-1\t" .. t.event("ORD-1", 1),
      "ORD-2\t" .. cjson.encode(bad),
      "ORD-3\t" .. t.event("ORD-4", 1),
      "ORD-5\t",
    }, "\n") .. "\n")
    local rc, out = t.eddy("validate -c " .. t.q(conf) .. " " .. t.q(dir .. "/in.kv"))
    assert.are.equal(1, rc, out)
    assert.matches("in.kv:1: valid", out, 1, true)
    assert.matches("in.kv:2: invalid: schema: data/lines/0/quantity: [^\n]*keyword " ..
      "/properties/lines/items/properties/quantity/type", out)
    assert.matches("in.kv:3: invalid: envelope: key", out, 1, true)
    assert.matches("in.kv:4: valid", out, 1, true)
  end)

  it("eddy check loads config, handlers and schemas, or says what is wrong", function()
    local conf = schema_conf()
    local rc, out = t.eddy("check -c " .. t.q(conf))
    assert.are.equal(0, rc, out)
    assert.matches("ok: 1 handlers, 1 type mappings", out, 1, true)

    local bad = t.config(dir, mock, { extra = "schemas: { types: { \"x.*\": missing.json } }\n" })
    rc, out = t.eddy("check -c " .. t.q(bad))
    assert.are.equal(1, rc, out)
    assert.matches('schemas.types: "x.*": conf/schemas/missing.json', out, 1, true)

    t.sh("mkdir -p " .. t.q(dir .. "/broken"))
    t.write(dir .. "/broken/b.lua", "return {\n  on_event = function(ev, ctx)\n    if then\n  end }\n")
    bad = t.config(dir, mock, { handlers = dir .. "/broken" })
    rc, out = t.eddy("check -c " .. t.q(bad))
    assert.are.equal(1, rc, out)
    assert.matches("b.lua:3:", out, 1, true)
  end)

  it("a schema that does not load stops eddy run at start with the reason", function()
    t.sh("mkdir -p " .. t.q(dir .. "/badschemas"))
    t.write(dir .. "/badschemas/s.json", '{"type": "object", "properties": {"a": {"minimum": "zero"}}}')
    local conf = t.config(dir, mock, { extra = "schemas: { dir: " .. dir .. "/badschemas, types: { \"*\": s.json } }\n" })
    local rc, out = t.eddy("run -c " .. t.q(conf) .. " --exit-at-end")
    assert.are.equal(2, rc, out)
    assert.matches("schemas.types", out, 1, true)
    assert.matches("minimum", out, 1, true)
  end)

  it("dead-letters data that breaks its schema with path and keyword, commits past it", function()
    local bad1 = cjson.decode(t.event("ORD-2", 1))
    bad1.data.quantity = -5
    local bad2 = cjson.decode(t.event("ORD-3", 1))
    bad2.data.lines[1].extra = true
    local no_data = cjson.decode(t.event("ORD-4", 1))
    no_data.data = nil
    t.produce(mock, "orders", {
      { "ORD-1", t.event("ORD-1", 1) },
      { "ORD-2", cjson.encode(bad1) },
      { "ORD-3", cjson.encode(bad2) },
      { "ORD-4", cjson.encode(no_data) },
      { "ORD-5", t.event("ORD-5", 1) },
      { "ORD-1", nil },
    }, dir)
    local conf = schema_conf(nil, { group = "g-schema" })
    local rc, out = t.eddy("run -c " .. t.q(conf) .. " --exit-at-end")
    assert.are.equal(0, rc, out)

    local rows = t.query(dir .. "/state.db", "select key from orders order by key")
    assert.are.same({ { key = "ORD-5" } }, rows)
    local dlq = t.consume(mock, "eddy.dlq")
    assert.are.equal(3, #dlq)
    local by_key = {}
    for _, m in ipairs(dlq) do
      assert.are.equal("schema", m.headers["eddy.error.stage"])
      by_key[m.key] = m.headers["eddy.error.reason"]
    end
    assert.matches("^data/quantity: [^;]*%-5[^;]*%(keyword /properties/quantity/minimum of " ..
      "urn:relex:schemas:", by_key["ORD-2"])
    assert.matches("data/lines/0[/%w]*: [^;]*extra[^;]*%(keyword /properties/lines/items/additionalProperties",
      by_key["ORD-3"])
    assert.matches("data is absent", by_key["ORD-4"], 1, true)
    -- the dead letter is the record as it arrived
    assert.are.equal(cjson.encode(bad1), dlq[1].value)
    assert.are.same({ 6 }, t.committed(mock, "g-schema", "orders"))
  end)

  it("schemas.required dead-letters types without a schema; dataschema picks one via schemas.map", function()
    t.sh("mkdir -p " .. t.q(dir .. "/remote/v1"))
    t.write(dir .. "/remote/v1/note.json", [[{"$schema": "https://json-schema.org/draft/2020-12/schema",
      "type": "object", "required": ["text"], "properties": {"text": {"type": "string", "maxLength": 5}},
      "unevaluatedProperties": false}]])
    local function note(key, d, o)
      local ev = cjson.decode(t.event(key, 1, o))
      ev.type = "com.example.note"
      ev.data = d
      return cjson.encode(ev)
    end
    t.produce(mock, "req", {
      { "N-1", note("N-1", { text = "hi" }, { dataschema = "https://schemas.example.com/v1/note.json" }) },
      { "N-2", note("N-2", { text = "too long" }, { dataschema = "https://schemas.example.com/v1/note.json" }) },
      { "N-3", note("N-3", { text = "hi", more = 1 }, { dataschema = "https://schemas.example.com/v1/note.json" }) },
      { "N-4", note("N-4", { text = "hi" }) },
      { "ORD-1", t.event("ORD-1", 1) },
    }, dir)
    t.handlers(dir, { ["all.lua"] = [[
return {
  subscribe = { topics = { "req" } },
  on_event = function(ev, ctx) ctx.upsert("seen", ev.key, { type = ev.type }) end,
}
]] })
    local conf = schema_conf("  required: true\n  map: { \"https://schemas.example.com/\": " ..
      dir .. "/remote }\n", { group = "g-req", topics = { "req" }, dlq = "req.dlq" })
    local rc, out = t.eddy("run -c " .. t.q(conf) .. " --exit-at-end")
    os.remove(dir .. "/handlers/all.lua")
    assert.are.equal(0, rc, out)
    local rows = t.query(dir .. "/state.db", "select key from seen order by key")
    assert.are.same({ { key = "N-1" }, { key = "ORD-1" } }, rows)
    local reasons = {}
    for _, m in ipairs(t.consume(mock, "req.dlq")) do reasons[m.key] = m.headers["eddy.error.reason"] end
    assert.matches("^data/text: [^;]*maxLength", reasons["N-2"])
    assert.matches("unevaluatedProperties", reasons["N-3"], 1, true)
    assert.matches('no schema for type "com.example.note"', reasons["N-4"], 1, true)
  end)
end)

describe("schemas from a registry", function()
  local dir, mock, reg

  local ENVELOPE_SCHEMA = cjson.encode({
    ["$schema"] = "http://json-schema.org/draft-07/schema#",
    type = "object", required = { "specversion", "id", "data" },
    properties = { data = { ["$ref"] = "order-proposal.json" } },
  })

  local AVRO_SCHEMA = cjson.encode({
    type = "record", name = "OrderProposal", namespace = "com.example",
    fields = {
      { name = "order_id", type = "string" },
      { name = "quantity", type = { type = "bytes", logicalType = "decimal", precision = 10, scale = 2 } },
      { name = "delivery", type = { type = "long", logicalType = "timestamp-millis" } },
      { name = "unit", type = { type = "enum", name = "Unit", symbols = { "EA", "CS" } } },
      { name = "note", type = { "null", "string" } },
      { name = "lines", type = { type = "array", items = { type = "record", name = "Line",
        fields = { { name = "sku", type = "string" }, { name = "qty", type = "long" } } } } },
    },
  })

  setup(function()
    dir = t.tmpdir()
    mock = t.start_mock(dir, { "wire", "wire.dlq", "down", "down.dlq", "sub", "sub.dlq", "avro", "avro.dlq", "nosub" })
    t.handlers(dir, { ["orders.lua"] = t.ORDERS_HANDLER })
    t.write(dir .. "/schemas.json", cjson.encode({
      -- the whole structured CloudEvent, its data by reference
      ["1"] = { subject = "wire-value", version = 1, schemaType = "JSON", schema = ENVELOPE_SCHEMA,
                references = { { name = "order-proposal.json", subject = "order-proposal", version = 1 } } },
      ["2"] = { subject = "order-proposal", version = 1, schemaType = "JSON", schema = t.read(SCHEMA) },
      ["3"] = { subject = "avro-value", version = 1, schema = AVRO_SCHEMA },
      -- the latest schema of the subject "sub-value" (topic strategy)
      ["5"] = { subject = "sub-value", version = 1, schemaType = "JSON",
                schema = '{"type": "object", "required": ["order_id"], "properties": {"quantity": {"maximum": 100}}}' },
    }))
    -- basic auth, as Confluent Cloud's API key and secret
    reg = t.start_registry(dir, dir .. "/schemas.json", "--user sr-key:sr-secret")
  end)

  teardown(function()
    t.stop_mock(mock)
    if reg then t.sh("kill " .. reg.pid) end
    t.sh("rm -rf " .. t.q(dir))
  end)

  local function reg_conf(opts, extra)
    opts.extra = "registry: { url: " .. reg.url .. ", username: sr-key, password: sr-secret, " ..
      "timeout_ms: 2000, retries: 1 }\n" .. (extra or "")
    return t.config(dir, mock, opts)
  end

  it("checks wire-format records against their schema id, references included, once per id", function()
    local bad = cjson.decode(t.event("ORD-2", 1))
    bad.data.unit = "BOX"
    local no_spec = cjson.decode(t.event("ORD-6", 1))
    no_spec.data = nil
    t.produce_raw(mock, "wire", {
      { "ORD-1", t.wire(1, t.event("ORD-1", 1)) },
      { "ORD-2", t.wire(1, cjson.encode(bad)) },
      { "ORD-3", t.wire(99, t.event("ORD-3", 1)) },
      { "ORD-4", "\1" .. t.event("ORD-4", 1) },
      { "ORD-5", t.wire(1, t.event("ORD-5", 1)) },
      { "ORD-6", t.wire(1, cjson.encode(no_spec)) },
      { "ORD-7", "\0\0\1" },
    }, dir)
    local conf = reg_conf({ group = "g-wire", topics = { "wire" }, dlq = "wire.dlq" })
    local rc, out = t.eddy("run -c " .. t.q(conf) .. " --exit-at-end")
    assert.are.equal(0, rc, out)
    local rows = t.query(dir .. "/state.db", "select key from orders order by key")
    assert.are.same({ { key = "ORD-1" }, { key = "ORD-5" } }, rows)
    local reasons = {}
    for _, m in ipairs(t.consume(mock, "wire.dlq")) do
      assert.are.equal("schema", m.headers["eddy.error.stage"])
      reasons[m.key] = m.headers["eddy.error.reason"]
    end
    assert.matches("^/data/unit: [^;]*BOX", reasons["ORD-2"])
    assert.matches("schema id 99: ", reasons["ORD-3"], 1, true)
    assert.matches("unknown magic byte 0x01", reasons["ORD-4"], 1, true)
    assert.matches("required", reasons["ORD-6"], 1, true)
    assert.matches("too short for the wire format", reasons["ORD-7"], 1, true)
    assert.are.same({ 7 }, t.committed(mock, "g-wire", "wire"))
    -- one request per schema: id 1, its reference, the unknown id once
    local seen = {}
    for _, l in ipairs(t.registry_log(dir)) do seen[l] = (seen[l] or 0) + 1 end
    assert.are.equal(1, seen["GET /schemas/ids/1"])
    assert.are.equal(1, seen["GET /subjects/order-proposal/versions/1"])
    assert.are.equal(1, seen["GET /schemas/ids/99"])
  end)

  it("decodes Avro payloads (binary mode) into the data handlers get", function()
    t.write(dir .. "/order.avsc", AVRO_SCHEMA)
    local headers = { "ce_specversion=1.0", "ce_type=com.example.avro-order", "ce_source=urn:test",
      "ce_id=A-1", "ce_tenant=t1", "content-type=application/avro" }
    t.produce_avro(mock, "avro", dir .. "/order.avsc", 3, {
      { "A-1", '{"order_id": "A-1", "quantity": "12.34", "delivery": "2025-01-20T08:00:00.250Z", ' ..
        '"unit": "CS", "note": null, "lines": [{"sku": "S-1", "qty": 7}]}' },
    }, dir, headers)
    t.produce_raw(mock, "avro", { { "A-1", t.wire(3, "\2A") } }, dir, headers)
    t.handlers(dir, { ["avro.lua"] = [[
return {
  subscribe = { topics = { "avro" } },
  on_event = function(ev, ctx)
    ctx.upsert("avro_orders", ev.key, { data = ev.data, ct = ev.datacontenttype })
  end,
}
]] })
    local conf = reg_conf({ group = "g-avro", topics = { "avro" }, dlq = "avro.dlq", key_equals_id = false,
      require_tenant = false })
    local rc, out = t.eddy("run -c " .. t.q(conf) .. " --exit-at-end")
    os.remove(dir .. "/handlers/avro.lua")
    assert.are.equal(0, rc, out)
    local rows = t.query(dir .. "/state.db", "select value from avro_orders")
    assert.are.equal(1, #rows)
    local v = cjson.decode(rows[1].value)
    assert.are.same({ order_id = "A-1", quantity = "12.34", delivery = "2025-01-20T08:00:00.250Z",
      unit = "CS", note = cjson.null, lines = { { sku = "S-1", qty = 7 } } }, v.data)
    assert.are.equal("application/avro", v.ct)
    local dlq = t.consume(mock, "avro.dlq")
    assert.are.equal(1, #dlq)
    assert.are.equal("schema", dlq[1].headers["eddy.error.stage"])
    assert.matches("Avro value does not decode with schema id 3", dlq[1].headers["eddy.error.reason"], 1, true)
  end)

  it("checks records without a schema id against the latest schema of the topic's subject", function()
    local over = cjson.decode(t.event("ORD-2", 1))
    over.data.quantity = 500
    t.produce(mock, "sub", { { "ORD-1", t.event("ORD-1", 1) }, { "ORD-2", cjson.encode(over) } }, dir)
    local conf = reg_conf({ group = "g-sub", topics = { "sub" }, dlq = "sub.dlq" })
    local rc, out = t.eddy("run -c " .. t.q(conf) .. " --exit-at-end")
    assert.are.equal(0, rc, out)
    local dlq = t.consume(mock, "sub.dlq")
    assert.are.equal(1, #dlq)
    assert.are.equal("ORD-2", dlq[1].key)
    assert.matches("^data/quantity: [^;]*500", dlq[1].headers["eddy.error.reason"])
  end)

  it("eddy validate -c asks the registry too; wrong credentials are an error, not an invalid record", function()
    t.write(dir .. "/sub.kv", "ORD-1\t" .. t.event("ORD-1", 1) .. "\n")
    local conf = reg_conf({})
    local rc, out = t.eddy("validate -c " .. t.q(conf) .. " --topic sub " .. t.q(dir .. "/sub.kv"))
    assert.are.equal(0, rc, out)
    assert.matches("sub.kv:1: valid", out, 1, true)
    t.write(conf, (t.read(conf):gsub("password: sr%-secret", "password: wrong")))
    rc, out = t.eddy("validate -c " .. t.q(conf) .. " --topic sub " .. t.q(dir .. "/sub.kv"))
    assert.are.equal(2, rc, out)
    assert.matches("401", out, 1, true)
    assert.not_matches("invalid", out, 1, true)
  end)

  it("asks the registry once for a subject it does not have, and handles those records unchecked", function()
    t.produce(mock, "nosub", { { "ORD-1", t.event("ORD-1", 1) }, { "ORD-2", t.event("ORD-2", 1) },
      { "ORD-3", t.event("ORD-3", 1) } }, dir)
    local conf = reg_conf({ group = "g-nosub", topics = { "nosub" }, batch = 1 })
    local rc, out = t.eddy("run -c " .. t.q(conf) .. " --exit-at-end")
    assert.are.equal(0, rc, out)
    assert.are.same({ 3 }, t.committed(mock, "g-nosub", "nosub"))
    local asked = 0
    for _, l in ipairs(t.registry_log(dir)) do
      if l == "GET /subjects/nosub-value/versions/latest" then asked = asked + 1 end
    end
    assert.are.equal(1, asked)
  end)

  it("a registry that is down holds the records back instead of dead-lettering them", function()
    t.write(dir .. "/more.json", cjson.encode({
      { id = 7, subject = "down-value", version = 1, schemaType = "JSON", schema = ENVELOPE_SCHEMA,
        references = { { name = "order-proposal.json", subject = "order-proposal", version = 1 } } } }))
    t.sh("curl -sS -X POST --data-binary @" .. t.q(dir .. "/more.json") .. " " .. reg.url .. "/_fixture/schemas")
    reg.control("fail?count=-1&status=500&error_code=50001")
    t.produce_raw(mock, "down", { { "ORD-1", t.wire(7, t.event("ORD-1", 3)) } }, dir)
    local conf = reg_conf({ group = "g-down", topics = { "down" }, dlq = "down.dlq" })
    local run = t.spawn(dir, "down", t.q(t.bin) .. " run -c " .. t.q(conf) .. " --exit-at-end")
    for _ = 1, 100 do
      if run.log():match("schema registry") then break end
      t.sleep(0.1)
    end
    assert.matches("schema registry", run.log(), 1, true)
    assert.are.equal(0, #t.consume(mock, "down.dlq"))
    -- not ready while the registry cannot be asked
    local port, code, body = t.http_port(run)
    for _ = 1, 100 do
      code, body = t.http_get(port, "/readyz")
      if code == 503 and body:match("schema registry") then break end
      t.sleep(0.1)
    end
    assert.are.equal(503, code)
    assert.matches("^not ready: schema registry: down 0/0: [^\n]*HTTP 500", body)
    reg.control("reset")
    assert.are.equal(0, run.wait(), run.log())
    assert.are.equal(0, #t.consume(mock, "down.dlq"))
    local rows = t.query(dir .. "/state.db", "select value from orders where key = 'ORD-1'")
    assert.are.equal(3, cjson.decode(rows[1].value).version)
    assert.are.same({ 1 }, t.committed(mock, "g-down", "down"))
  end)
end)
