-- eddy manifest: what a deployment consumes and produces, as JSON and as
-- YAML, read from its configuration, handlers, rules and registry; and
-- what eddy check says of the same deployment.
local t = require "eddy_test"
local cjson = require "cjson"

describe("eddy manifest and eddy check", function()
  local dir, reg

  setup(function()
    dir = t.tmpdir()
    t.write(dir .. "/schemas.json", cjson.encode({
      ["4"] = { subject = "orders-value", version = 2, schemaType = "JSON", schema = '{"type": "object"}' },
    }))
    reg = t.start_registry(dir, dir .. "/schemas.json")
    t.handlers(dir, {
      ["orders.lua"] = t.ORDERS_HANDLER,
      ["accept.lua"] = [[
return {
  subscribe = { types = { "com.example.orders.*" }, topics = { "orders" } },
  on_event = function(ev, ctx)
    ctx.publish{ topic = "orders.accepted", type = "com.example.orders.accepted.v1",
                 key = ev.key, data = ev.data }
    ctx.publish{ topic = "audit." .. ev.tenant, type = 'com.example.audit.v1', data = {} }
  end,
}
]],
    })
    t.sh("mkdir -p " .. t.q(dir .. "/rules"))
    t.write(dir .. "/rules/large.yaml", [[
- name: large-order
  when:
    types: ["com.relexsolutions.supply-chain.*"]
    if: data.quantity > 10000
  summary: "Large order {{data.order_id}}"
]])
  end)

  teardown(function()
    if reg then t.sh("kill " .. reg.pid) end
    t.sh("rm -rf " .. t.q(dir))
  end)

  local function conf()
    return t.config(dir, nil, { group = "g-manifest", topics = { "orders", "^customer-.*" },
                                extra = table.concat({
      "rules: " .. dir .. "/rules",
      "registry: { url: " .. reg.url .. ", timeout_ms: 2000, retries: 0 }",
      "schemas: { types: { \"com.example.*\": " .. t.q("x") .. " } }",
      "alerts:",
      "  sinks:",
      "    chat: { type: slack, url: \"https://hooks.slack.com/services/T0/B0/SECRETPART\" }",
      "    ops: { type: webhook, url: \"https://user:pw@alerts.example.com:8443/hook?token=abc\" }",
    }, "\n") .. "\n" })
  end

  it("lists the group, topics, handlers and rules with their types, what they publish, schemas and sinks", function()
    local c = conf()
    t.write(c, (t.read(c):gsub('schemas: { types: { "com.example.%*": \'x\' } }\n', "")))
    local rc, out = t.eddy("manifest -c " .. t.q(c) .. " --format json")
    assert.are.equal(0, rc, out)
    local m = cjson.decode(out)
    assert.are.same({ group = "g-manifest", bootstrap_servers = "127.0.0.1:1",
                      topics = { "orders", "^customer-.*" } }, m.consumer)
    local by = {}
    for _, h in ipairs(m.handlers) do by[h.path:match("[^/]+$")] = h end
    assert.are.same({ "com.example.orders.*" }, by["accept.lua"].types)
    assert.are.same({ "orders" }, by["accept.lua"].topics)
    assert.are.same({ { topic = "orders.accepted", type = "com.example.orders.accepted.v1" },
                      { topic = "(computed)", type = "com.example.audit.v1" } }, by["accept.lua"].publishes)
    assert.are.same({ "com.relexsolutions.supply-chain.*" }, by["orders.lua"].types)
    assert.are.same({ "*" }, by["orders.lua"].topics)
    assert.are.equal("rules", by["large.yaml"].kind)
    assert.are.same({ "com.relexsolutions.supply-chain.*" }, by["large.yaml"].types)
    -- the registry was asked for the subject the literal topic implies
    assert.are.same({ { subject = "orders-value", version = 2, id = 4 } }, m.schemas.registry.subjects)
    assert.are.equal("topic", m.schemas.registry.subject_strategy)
    -- sink URLs without their secrets
    assert.are.same({ { name = "chat", type = "slack", url = "https://hooks.slack.com" },
                      { name = "ops", type = "webhook", url = "https://alerts.example.com:8443" } },
                    m.alert_sinks)
    assert.is_nil(out:find("SECRETPART", 1, true))
    assert.is_nil(out:find("pw@", 1, true))
    assert.are.equal("eddy.dlq", m.dead_letter_topic)

    -- the YAML says the same
    local yrc, yaml = t.eddy("manifest -c " .. t.q(c))
    assert.are.equal(0, yrc, yaml)
    t.write(dir .. "/manifest.yaml", yaml)
    local prc, as_json = t.sh("/usr/bin/python3 -c 'import json, sys, yaml; " ..
      "print(json.dumps(yaml.safe_load(open(sys.argv[1]))))' " .. t.q(dir .. "/manifest.yaml"), true)
    assert.are.equal(0, prc, as_json)
    assert.are.same(m, cjson.decode(as_json))
  end)

  it("check asks the registry for each topic's subject and warns about subscriptions that never match", function()
    t.sh("mkdir -p " .. t.q(dir .. "/schemas"))
    t.write(dir .. "/schemas/s.json", '{"type": "object"}')
    t.handlers(dir, { ["stray.lua"] = [[
return { subscribe = { topics = { "payments.*" } }, on_event = function() end }
]] })
    local c = conf()
    -- topics by name only (a pattern could match anything)
    t.write(c, (t.read(c):gsub('schemas: [^\n]*', "schemas: { dir: " .. dir .. "/schemas, types: { \"com.example.*\": s.json } }")
                         :gsub("topics: %[orders, %^customer%-%.%*%]", "topics: [orders]")))
    local rc, out = t.eddy("check -c " .. t.q(c))
    assert.are.equal(0, rc, out)
    assert.matches("registry: orders-value: version 2 (id 4)", out, 1, true)
    assert.matches('stray.lua: subscribe.topics "payments.*" matches none of the configured topics', out, 1, true)
    -- the registry covers the rule's types: no schema warning while it is configured
    assert.is_nil(out:find("matches no schema", 1, true), out)
    t.sh("rm " .. t.q(dir .. "/handlers/stray.lua"))

    -- without a registry, schemas.types does not cover the rule's types
    local local_only = t.read(c):gsub("registry: [^\n]*\n", "")
    t.write(c, local_only)
    rc, out = t.eddy("check -c " .. t.q(c))
    assert.are.equal(0, rc, out)
    assert.matches('large.yaml: type "com.relexsolutions.supply-chain.*" matches no schema in schemas.types', out, 1, true)

    -- a topic without a subject is a warning; a registry that cannot be asked is a problem
    t.write(c, (t.read(c):gsub("topics: %[orders%]", "topics: [orders, payments]") ..
      "registry: { url: " .. reg.url .. ", timeout_ms: 2000, retries: 0 }\n"))
    rc, out = t.eddy("check -c " .. t.q(c))
    assert.are.equal(0, rc, out)
    assert.matches("warning: registry: payments%-value: [^\n]*not checked", out)
    t.write(c, (t.read(c):gsub("url: " .. reg.url:gsub("%p", "%%%0"), "url: http://127.0.0.1:1")))
    rc, out = t.eddy("check -c " .. t.q(c))
    assert.are.equal(1, rc, out)
    assert.matches("registry: orders-value: ", out, 1, true)
  end)

  it("says why when a handler does not load, and refuses unknown formats", function()
    t.handlers(dir, { ["broken.lua"] = "return {" })
    local rc, out = t.eddy("manifest -c " .. t.q(conf()) .. " --format json")
    assert.are.equal(1, rc, out)
    assert.matches("broken.lua", out, 1, true)
    t.sh("rm " .. t.q(dir .. "/handlers/broken.lua"))
    rc, out = t.eddy("manifest -c " .. t.q(conf()) .. " --format xml")
    assert.are.equal(2, rc, out)
    assert.matches('--format: "xml" is not yaml or json', out, 1, true)
  end)
end)
