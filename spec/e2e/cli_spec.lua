-- The command line itself: help, version, errors of use.
local t = require "eddy_test"

describe("eddy command line", function()
  it("prints help and version", function()
    local rc, out = t.eddy("--help")
    assert.are.equal(0, rc, out)
    for _, cmd in ipairs({ "run -c FILE", "dev ", "replay ", "config-doc" }) do
      assert.matches(cmd, out, 1, true)
    end
    rc, out = t.eddy("--version")
    assert.are.equal(0, rc, out)
    assert.matches("^eddy %d+%.%d+%.%d+ %(LuaJIT [^)]*%)\n$", out)
    for _, cmd in ipairs({ "run", "dev", "replay" }) do
      rc, out = t.eddy(cmd .. " --help")
      assert.are.equal(0, rc, out)
      assert.matches("usage: eddy " .. cmd, out, 1, true)
    end
  end)

  it("exits 2 on errors of use", function()
    local rc, out = t.eddy("bogus")
    assert.are.equal(2, rc, out)
    assert.matches('unknown command "bogus"', out, 1, true)
    rc, out = t.eddy("run --no-such-flag")
    assert.are.equal(2, rc, out)
    rc, out = t.eddy("replay")
    assert.are.equal(2, rc, out)
    assert.matches("usage: eddy replay", out, 1, true)
    rc, out = t.eddy("")
    assert.are.equal(2, rc, out)
  end)

  it("config-doc prints the reference that docs/config.md holds", function()
    local rc, out = t.eddy("config-doc")
    assert.are.equal(0, rc, out)
    assert.are.equal(t.read(t.root .. "/docs/config.md"), out)
  end)

  it("config prints what a process would run with, secrets masked, and reads back", function()
    local dir = t.tmpdir()
    t.write(dir .. "/in.yaml", table.concat({
      "kafka:",
      "  bootstrap.servers: ${BROKERS}",
      "  group.id: g",
      "  sasl.password: hunter2",
      "topics: [orders]",
      "handlers: " .. t.root .. "/handlers",
      "store: { type: postgres, dsn: \"postgresql://eddy:s3cret@db:5432/eddy\" }",
      "registry: { url: \"https://sr.example\", username: key, password: \"${SR_SECRET}\" }",
      "alerts:",
      "  sinks:",
      "    ops: { type: webhook, url: \"https://hooks.example/x\", secret: \"whsec_c2VjcmV0\" }",
    }, "\n") .. "\n")
    local rc, out = t.sh("BROKERS=b1:9092 SR_SECRET=topsecret EDDY_BATCH_SIZE=77 " .. t.q(t.bin) ..
      " config -c " .. t.q(dir .. "/in.yaml"))
    assert.are.equal(0, rc, out)
    for _, secret in ipairs({ "hunter2", "s3cret", "topsecret", "whsec_" }) do
      assert.is_nil(out:find(secret, 1, true), secret .. " shown:\n" .. out)
    end
    assert.matches('"bootstrap.servers": "b1:9092"', out, 1, true)      -- ${VAR}
    assert.matches('\n  size: 77\n', out, 1, true)                       -- EDDY_* override
    assert.matches('"auto.offset.reset": "earliest"', out, 1, true)     -- eddy's default
    assert.matches('"fetch.max.bytes": "1048576"', out, 1, true)        -- eddy's default
    assert.matches('"queued.max.messages.kbytes": "1024"', out, 1, true) -- eddy's default
    assert.matches('dsn: "postgresql://eddy:*****@db:5432/eddy"', out, 1, true)
    assert.matches('\n  password: "*****"', out, 1, true)
    assert.matches('\n  cpu_limit_ms: 1000\n', out, 1, true)             -- a default
    -- the output is a configuration eddy reads
    t.write(dir .. "/out.yaml", out)
    rc, out = t.eddy("check --offline -c " .. t.q(dir .. "/out.yaml"))
    assert.are.equal(0, rc, out)
    rc, out = t.eddy("config -c " .. t.q(dir .. "/missing.yaml"))
    assert.are.equal(2, rc, out)
    t.sh("rm -rf " .. t.q(dir))
  end)

  it("new rule writes a rule and a test of it that passes, and fails when the rule is broken", function()
    local dir = t.tmpdir()
    local cd = "cd " .. t.q(dir) .. " && " .. t.q(t.bin)
    local rc, out = t.sh(cd .. " new rule big-qty", true)
    assert.are.equal(0, rc, out)
    assert.matches("created rules/big%-qty.yaml\ncreated rules/big%-qty.test.yaml\n", out)
    rc, out = t.sh(cd .. " rule test", true)
    assert.are.equal(0, rc, out)
    assert.matches("2 cases, 0 failed", out, 1, true)
    -- the test checks the rule: a changed threshold fails it
    t.write(dir .. "/rules/big-qty.yaml", (t.read(dir .. "/rules/big-qty.yaml"):gsub("> 1000", "> 9000")))
    rc, out = t.sh(cd .. " rule test", true)
    assert.are.equal(1, rc, out)
    assert.matches("FAIL rules/big-qty.test.yaml:4: a large quantity fires", out, 1, true)
    -- never over an existing file; names a rule can have
    rc, out = t.sh(cd .. " new rule big-qty", true)
    assert.are.equal(1, rc, out)
    assert.matches("rules/big-qty.yaml exists", out, 1, true)
    rc, out = t.sh(cd .. " new rule 'no spaces'", true)
    assert.are.equal(2, rc, out)
    t.sh("rm -rf " .. t.q(dir))
  end)
end)
