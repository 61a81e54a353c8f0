-- eddy.sandbox: the environment a handler file runs in.
local sandbox = require "eddy.sandbox"
local json = require "eddy.json"

-- Runs code as a chunk in env; returns its results.
local function run(env, code)
  local fn = assert(loadstring(code, "=handler"))
  return setfenv(fn, env)()
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  return keys
end

local function sorted(list)
  local copy = {}
  for i, v in ipairs(list) do copy[i] = v end
  table.sort(copy)
  return copy
end

-- What a handler may reach, written out here so that any change to the
-- allow-list shows up as a failing spec.
local GLOBALS = {
  "_VERSION", "assert", "error", "getmetatable", "ipairs", "next", "pairs", "pcall",
  "rawequal", "rawget", "rawset", "select", "setmetatable", "tonumber", "tostring",
  "type", "unpack", "xpcall",
}
local LIBRARIES = {
  string = { "byte", "char", "find", "format", "gmatch", "gsub", "len", "lower", "match", "rep",
             "reverse", "sub", "upper" },
  table = { "concat", "insert", "maxn", "remove", "sort" },
  math = { "abs", "acos", "asin", "atan", "atan2", "ceil", "cos", "cosh", "deg", "exp", "floor",
           "fmod", "frexp", "huge", "ldexp", "log", "log10", "max", "min", "modf", "pi", "pow",
           "rad", "random", "sin", "sinh", "sqrt", "tan", "tanh" },
  os = { "clock", "date", "time" },
  bit = { "arshift", "band", "bnot", "bor", "bswap", "bxor", "lshift", "rol", "ror", "rshift",
          "tobit", "tohex" },
}

describe("eddy.sandbox", function()
  describe("new_env", function()
    it("has exactly the allowed globals, libraries and _G", function()
      local env = sandbox.new_env()
      local expected = { "_G" }
      for _, g in ipairs(GLOBALS) do expected[#expected + 1] = g end
      for lib in pairs(LIBRARIES) do expected[#expected + 1] = lib end
      assert.are.same(sorted(expected), sorted_keys(env))
      for _, g in ipairs(GLOBALS) do
        assert.are.equal(_G[g], env[g], g)
        assert.is_not_nil(env[g], g)
      end
    end)

    it("has exactly the allowed members of each library, the host's own functions", function()
      local env = sandbox.new_env()
      for lib, names in pairs(LIBRARIES) do
        assert.are.same(sorted(names), sorted_keys(env[lib]), lib)
        for _, name in ipairs(names) do
          assert.is_not_nil(env[lib][name], lib .. "." .. name)
          assert.are.equal(_G[lib][name], env[lib][name], lib .. "." .. name)
        end
      end
    end)

    it("leaves out files, processes, module loading, bytecode and debug access", function()
      local env = sandbox.new_env({ json = json })
      for _, name in ipairs({ "io", "require", "package", "module", "load", "loadstring", "loadfile",
                              "dofile", "debug", "getfenv", "setfenv", "collectgarbage", "gcinfo",
                              "print", "newproxy", "ffi", "jit", "coroutine" }) do
        assert.is_nil(env[name], name)
        assert.is_nil(run(env, "return " .. name), name)
      end
      for _, name in ipairs({ "execute", "exit", "getenv", "remove", "rename", "tmpname", "setlocale" }) do
        assert.is_nil(env.os[name], "os." .. name)
      end
      assert.is_nil(env.string.dump)
      assert.is_nil(run(env, "return string.dump"))
    end)

    it("gives every env its own copies of the libraries", function()
      local a, b = sandbox.new_env(), sandbox.new_env()
      local host_upper = string.upper
      for lib in pairs(LIBRARIES) do
        assert.are_not.equal(a[lib], b[lib], lib)
        assert.are_not.equal(_G[lib], a[lib], lib)
      end
      run(a, "string.upper = function() return 'changed' end; table.insert = nil; math.pi = 3")
      assert.are.equal("changed", a.string.upper("x"))
      assert.are.equal("X", b.string.upper("x"))
      assert.are.equal(host_upper, string.upper)
      assert.are.equal("X", run(b, "return string.upper('x')"))
      assert.are.equal(table.insert, b.table.insert)
      assert.is_function(table.insert)
      assert.are.equal(math.pi, b.math.pi)
      assert.are_not.equal(3, math.pi)
    end)

    it("copies the tables in extra and passes other values as they are", function()
      local marker = function() end
      local a = sandbox.new_env({ json = json, name = "x", fn = marker })
      local b = sandbox.new_env({ json = json })
      assert.are_not.equal(json, a.json)
      assert.are_not.equal(a.json, b.json)
      assert.are.equal(json.encode, a.json.encode)
      assert.are.equal(json.null, a.json.null)
      assert.are.equal("x", a.name)
      assert.are.equal(marker, a.fn)
      run(a, "json.encode = nil")
      assert.is_nil(a.json.encode)
      assert.are.equal(json.encode, b.json.encode)
      assert.is_function(json.encode)
    end)

    it("is its own _G, and globals a handler sets stay in it", function()
      local a, b = sandbox.new_env(), sandbox.new_env()
      assert.are.equal(a, a._G)
      assert.are.equal(a, run(a, "return _G"))
      run(a, "counter = 1; _G.other = 2")
      assert.are.equal(1, a.counter)
      assert.are.equal(2, a.other)
      assert.is_nil(b.counter)
      assert.is_nil(b.other)
      assert.is_nil(rawget(_G, "counter"))
      assert.is_nil(rawget(_G, "other"))
    end)

    it("lets a handler use what is allowed", function()
      local env = sandbox.new_env({ json = json })
      assert.are.same({ "A-B", 3, 255, '{"a":[]}' }, { run(env, [[
        local parts = {}
        for w in string.gmatch("a b", "%a") do table.insert(parts, string.upper(w)) end
        return table.concat(parts, "-"), math.max(1, 3), bit.band(0x1ff, 0xff),
          json.encode({ a = json.array() })
      ]]) })
    end)
  end)

  describe("protect_strings", function()
    -- It changes the one string metatable of this Lua state, which busted
    -- itself uses: observe inside, then put the metatable back at once.
    local function protected(fn)
      local mt = debug.getmetatable("")
      local saved_index, saved_metatable = mt.__index, rawget(mt, "__metatable")
      local ok, result = pcall(function()
        sandbox.protect_strings()
        return fn()
      end)
      mt.__index = saved_index
      mt.__metatable = saved_metatable
      assert(ok, result)
      return result
    end

    after_each(function()
      -- the metatable is back as it was for every other spec
      assert.are.equal(string, getmetatable("").__index)
    end)

    it("hides the string metatable and leaves only the allowed methods", function()
      local env = sandbox.new_env()
      local seen = protected(function()
        return {
          metatable = run(env, "return getmetatable('')"),
          dump = run(env, "return ('').dump"),
          upper = run(env, "return ('x'):upper()"),
          format = run(env, "return ('%d-%s'):format(3, 'a')"),
          rep = run(env, "return ('ab'):rep(2)"),
          index_is_host_string = debug.getmetatable("").__index == string,
          index_is_env_string = debug.getmetatable("").__index == env.string,
          methods = sorted_keys(debug.getmetatable("").__index),
        }
      end)
      assert.is_false(seen.metatable)
      assert.is_nil(seen.dump)
      assert.are.equal("X", seen.upper)
      assert.are.equal("3-a", seen.format)
      assert.are.equal("abab", seen.rep)
      assert.is_false(seen.index_is_host_string)
      assert.is_false(seen.index_is_env_string)
      assert.are.same(sorted(LIBRARIES.string), seen.methods)
    end)

    it("keeps string methods the same when a handler changes its string table", function()
      local env = sandbox.new_env()
      local upper = protected(function()
        run(env, "string.upper = function() return 'changed' end")
        return run(env, "return ('x'):upper()")
      end)
      assert.are.equal("X", upper)
    end)
  end)
end)
