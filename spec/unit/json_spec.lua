-- eddy.json: the `json` module handlers see, on top of lua-cjson.
local json = require "eddy.json"
local cjson = require "cjson"

-- The error message of fn(), raised on the line that called json.
local function error_of(fn)
  local ok, err = pcall(fn)
  assert.is_false(ok, "expected an error")
  return err
end

describe("eddy.json", function()
  describe("encode", function()
    it("writes a marked empty array as [] and an unmarked empty table as {}", function()
      assert.are.equal("[]", json.encode(json.array({})))
      assert.are.equal("{}", json.encode({}))
      assert.are.equal('{"lines":[]}', json.encode({ lines = json.array({}) }))
    end)

    it("writes marked empties nested at any depth", function()
      local v = { a = { b = json.array({}), c = {} }, d = json.array({ json.array({}), { e = json.array() } }) }
      assert.are.same(cjson.decode('{"a":{"b":[],"c":{}},"d":[[],{"e":[]}]}'), cjson.decode(json.encode(v)))
      local text = json.encode(v)
      assert.matches('"b":[]', text, 1, true)
      assert.matches('"c":{}', text, 1, true)
      assert.matches('"d":[[],{"e":[]}]', text, 1, true)
    end)

    it("writes an array emptied after it was marked as []", function()
      local arr = json.decode("[1,2]")
      arr[2] = nil
      arr[1] = nil
      assert.are.equal("[]", json.encode(arr))
    end)

    it("writes json.null as null, alone and inside tables", function()
      assert.are.equal(cjson.null, json.null)
      assert.are.equal("null", json.encode(json.null))
      assert.are.equal('{"note":null}', json.encode({ note = json.null }))
      assert.are.equal("[1,null,2]", json.encode(json.array({ 1, json.null, 2 })))
    end)

    it("keeps numbers beyond 14 significant digits exact", function()
      assert.are.equal("1234567890123456", json.encode(1234567890123456))
      assert.are.equal("-1234567890123456", json.encode(-1234567890123456))
      assert.are.equal("9007199254740992", json.encode(2 ^ 53))
      assert.are.equal("0.30000000000000004", json.encode(0.1 + 0.2))
      assert.are.equal("0.3333333333333333", json.encode(1 / 3))
      assert.are.equal('{"n":[1234567890123456,[]]}', json.encode({ n = json.array({ 1234567890123456, json.array() }) }))
      for _, n in ipairs({ 1234567890123456, 0.1 + 0.2, 1 / 3, 123456789012.5, 2 ^ 53, -2 ^ 60, 5e-324, 1.7976931348623157e308 }) do
        assert.are.equal(n, json.decode(json.encode(n)), "round trip of " .. string.format("%.17g", n))
        assert.are.equal(n, json.decode(json.encode({ x = { n } })).x[1])
      end
    end)

    it("writes short numbers as cjson does", function()
      assert.are.equal("312", json.encode(312))
      assert.are.equal("0.5", json.encode(0.5))
      assert.are.equal("[1,2,3]", json.encode({ 1, 2, 3 }))
    end)

    it("does not change the value it encodes", function()
      local inner = json.array({})
      local v = { big = 1234567890123456, inner = inner, list = { 1234567890123456 } }
      json.encode(v)
      assert.are.equal(1234567890123456, v.big)
      assert.are.equal(inner, v.inner)
      assert.are.equal(json.array_mt, getmetatable(v.inner))
      assert.are.equal(1234567890123456, v.list[1])
      assert.is_nil(getmetatable(v))
    end)

    it("leaves strings that look like its placeholders alone", function()
      local v = json.array({ "eddy", "eddy1", '"eddy2"', json.array(), 1234567890123456 })
      assert.are.equal('["eddy","eddy1","\\"eddy2\\"",[],1234567890123456]', json.encode(v))
    end)

    it("builds a lazy object (ev.data before first use) before writing it", function()
      local mt = {}
      mt.__index = function(t, k)
        if getmetatable(t) == mt then
          setmetatable(t, nil)
          rawset(t, "a", 1)
          rawset(t, "list", json.array({}))
        end
        return rawget(t, k)
      end
      json.bind_lazy(mt)
      local text = json.encode(setmetatable({}, mt))
      assert.is_truthy(text == '{"a":1,"list":[]}' or text == '{"list":[],"a":1}', text)
      text = json.encode({ ["in"] = setmetatable({}, mt) })
      assert.is_truthy(text == '{"in":{"a":1,"list":[]}}' or text == '{"in":{"list":[],"a":1}}', text)
    end)

    it("raises a clear error at the caller's line for a function", function()
      local err = error_of(function()
        local s = json.encode({ f = function() end })
        return s
      end)
      assert.matches("json_spec%.lua:%d+: Cannot serialise function: type not supported", err)
    end)

    it("raises a clear error at the caller's line for NaN and infinity", function()
      for _, bad in ipairs({ 0 / 0, math.huge, -math.huge }) do
        local err = error_of(function()
          local s = json.encode({ x = { bad } })
          return s
        end)
        assert.matches("json_spec%.lua:%d+: Cannot serialise number: must not be NaN or Inf", err)
      end
    end)

    it("raises an error for a cycle instead of looping", function()
      local t = {}
      t.self = t
      local err = error_of(function()
        local s = json.encode(t)
        return s
      end)
      assert.matches("json_spec%.lua:%d+: Cannot serialise, excessive nesting", err)
    end)
  end)

  describe("array", function()
    it("json.array() is a new marked table", function()
      local a, b = json.array(), json.array()
      assert.are_not.equal(a, b)
      assert.are.equal(json.array_mt, getmetatable(a))
      assert.are.equal("[]", json.encode(a))
    end)

    it("json.array(t) marks and returns t itself; it stays writable", function()
      local t = { 1 }
      assert.are.equal(t, json.array(t))
      assert.are.equal(json.array_mt, getmetatable(t))
      t[2] = 2
      assert.are.equal("[1,2]", json.encode(t))
    end)

    it("refuses what is not a table", function()
      local err = error_of(function()
        local a = json.array("x")
        return a
      end)
      assert.matches("json_spec%.lua:%d+: json.array: expected a table, got string", err)
    end)
  end)

  describe("array_mt", function()
    it("is read-only and its metatable is hidden", function()
      local err = error_of(function() json.array_mt.__index = {} end)
      assert.matches("json_spec%.lua:%d+: json%.array_mt is read%-only", err)
      assert.is_nil(rawget(json.array_mt, "__index"))
      assert.is_false(getmetatable(json.array_mt))
      assert.matches("cannot change a protected metatable", error_of(function()
        setmetatable(json.array_mt, {})
      end), 1, true)
      assert.is_nil(next(json.array_mt))
    end)
  end)

  describe("decode (the fallback outside eddy)", function()
    it("marks non-empty arrays at any depth and keeps null as json.null", function()
      local v = json.decode('{"a":[1,2],"c":{"d":[{"e":[3]}]},"n":null,"m":[null,1]}')
      assert.are.equal(json.array_mt, getmetatable(v.a))
      assert.are.equal(json.array_mt, getmetatable(v.c.d))
      assert.are.equal(json.array_mt, getmetatable(v.c.d[1].e))
      assert.are.equal(json.array_mt, getmetatable(v.m))
      assert.is_nil(getmetatable(v))
      assert.is_nil(getmetatable(v.c))
      assert.are.equal(json.null, v.n)
      assert.are.equal(json.null, v.m[1])
    end)

    it("an array emptied by a handler after decode still encodes as []", function()
      local v = json.decode('{"lines":[{"sku":"A"}]}')
      table.remove(v.lines)
      assert.are.equal('{"lines":[]}', json.encode(v))
    end)

    it("does not mark an object with a key \"1\"", function()
      local v = json.decode('{"1":"x"}')
      assert.is_nil(getmetatable(v))
      assert.are.equal('{"1":"x"}', json.encode(v))
    end)

    it("cannot tell an empty [] from {} (documented limitation: it comes back as {})", function()
      local v = json.decode('{"b":[]}')
      assert.is_nil(getmetatable(v.b))
      assert.are.equal('{"b":{}}', json.encode(v))
    end)

    it("raises cjson's message at the caller's line for text that is not JSON", function()
      local err = error_of(function()
        local v = json.decode("[1,")
        return v
      end)
      assert.matches("json_spec%.lua:%d+: Expected value but found T_END at character 4", err)
    end)

    it("refuses what is not a string", function()
      local err = error_of(function()
        local v = json.decode(5)
        return v
      end)
      assert.matches("json_spec%.lua:%d+: json.decode: expected a string, got number", err)
    end)
  end)

  it("writes an excessively sparse array as an object, leaving the global cjson settings alone", function()
    local sparse = { [1] = 1, [20] = 2 }
    assert.are.same({ ["1"] = 1, ["20"] = 2 }, cjson.decode(json.encode(sparse)))
    assert.has_error(function() cjson.encode(sparse) end, "Cannot serialise table: excessively sparse array")
    assert.are.same({ false, 2, 10 }, { cjson.encode_sparse_array() })
  end)
end)
