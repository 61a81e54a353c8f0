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
end)
