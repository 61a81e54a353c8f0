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
  "_VERSION", "assert", "collectgarbage", "error", "getmetatable", "ipairs", "next", "pairs",
  "pcall", "rawequal", "rawget", "rawset", "select", "setmetatable", "tonumber", "tostring",
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
-- Allowed names that get a guarded function instead of the host's.
local GUARDED = { "collectgarbage", "getmetatable", "next", "pairs", "rawget", "rawset", "setmetatable",
  "tostring", "string.format", "string.gsub", "string.rep", "os.date" }
-- Made for each environment.
local PER_ENV = { "_G", "load", "require" }

local function is_guarded(name)
  for _, g in ipairs(GUARDED) do if g == name then return true end end
  return false
end

-- The error fn raises.
local function error_of(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  return tostring(err)
end

describe("eddy.sandbox", function()
  describe("new_env", function()
    it("has exactly the allowed globals, libraries, _G, load and require", function()
      local env = sandbox.new_env()
      local expected = {}
      for _, g in ipairs(GLOBALS) do expected[#expected + 1] = g end
      for lib in pairs(LIBRARIES) do expected[#expected + 1] = lib end
      for _, g in ipairs(PER_ENV) do expected[#expected + 1] = g end
      assert.are.same(sorted(expected), sorted_keys(env))
      for _, g in ipairs(GLOBALS) do
        assert.is_not_nil(env[g], g)
        if is_guarded(g) then
          assert.are_not.equal(_G[g], env[g], g)
        else
          assert.are.equal(_G[g], env[g], g)
        end
      end
    end)

    it("has exactly the allowed members of each library, the host's own functions or guards", function()
      local env = sandbox.new_env()
      for lib, names in pairs(LIBRARIES) do
        assert.are.same(sorted(names), sorted_keys(env[lib]), lib)
        for _, name in ipairs(names) do
          assert.is_not_nil(env[lib][name], lib .. "." .. name)
          if is_guarded(lib .. "." .. name) then
            assert.are_not.equal(_G[lib][name], env[lib][name], lib .. "." .. name)
          else
            assert.are.equal(_G[lib][name], env[lib][name], lib .. "." .. name)
          end
        end
      end
    end)

    it("keeps the allow-list as data: the lists above, and a guard for each guarded name", function()
      assert.are.same(sorted(GLOBALS), sorted(sandbox.allowed.globals))
      for lib, names in pairs(LIBRARIES) do
        assert.are.same(sorted(names), sorted(sandbox.allowed[lib]), lib)
      end
      assert.are.same(sorted(GUARDED), sorted_keys(sandbox.guards))
      assert.are.same(sorted(PER_ENV), sorted(sandbox.per_env))
    end)

    it("leaves out files, processes, bytecode, debug access and coroutines", function()
      local env = sandbox.new_env({ json = json })
      for _, name in ipairs({ "io", "package", "module", "loadstring", "loadfile", "dofile", "debug",
                              "getfenv", "setfenv", "gcinfo", "print", "newproxy", "ffi", "jit",
                              "coroutine" }) do
        assert.is_nil(env[name], name)
        assert.is_nil(run(env, "return " .. name), name)
      end
      for _, name in ipairs({ "execute", "exit", "getenv", "remove", "rename", "tmpname", "setlocale" }) do
        assert.is_nil(env.os[name], "os." .. name)
      end
      assert.is_nil(env.string.dump)
      assert.is_nil(env.math.randomseed)
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

  describe("guards", function()
    local env = sandbox.new_env()

    it("collectgarbage answers \"count\" and refuses the rest", function()
      assert.is_number(env.collectgarbage("count"))
      for _, opt in ipairs({ "collect", "stop", "restart", "step", "setpause", "setstepmul" }) do
        assert.matches('only "count" is allowed, got ' .. opt, error_of(env.collectgarbage, opt), 1, true)
      end
      assert.matches('only "count" is allowed, got nil', error_of(env.collectgarbage), 1, true)
    end)

    it("rawset works on tables and refuses those with a protected metatable", function()
      local t = {}
      env.rawset(t, "a", 1)
      assert.are.equal(1, t.a)
      local ro = setmetatable({}, { __newindex = error, __metatable = false })
      assert.matches("rawset: the table is read-only", error_of(env.rawset, ro, "a", 1), 1, true)
      assert.matches("rawset: the table is read-only", error_of(env.rawset, json.array_mt, "__index", {}), 1, true)
      assert.is_nil(rawget(ro, "a"))
      assert.is_nil(rawget(json.array_mt, "__index"))
    end)

    -- A lazy object as src/lua_json.c makes them: empty, filled with
    -- members by its metatable on first use; mt.__index(t) fills t.
    local function lazy_kind(members)
      local mt = {}
      mt.__index = function(t, k)
        if getmetatable(t) == mt then
          setmetatable(t, nil)
          for key, v in pairs(members) do rawset(t, key, v) end
        end
        return rawget(t, k)
      end
      mt.__newindex = function(t, k, v)
        mt.__index(t)
        rawset(t, k, v)
      end
      return mt
    end

    it("next, pairs, rawget, rawset, getmetatable and setmetatable build a lazy object first", function()
      local mt = lazy_kind({ a = 1, b = 2 })
      sandbox.bind_lazy(mt)
      local function count(t)
        local n = 0
        for _ in env.pairs(t) do n = n + 1 end
        return n
      end
      assert.are.equal(2, count(setmetatable({}, mt)))
      assert.is_not_nil(env.next(setmetatable({}, mt)))
      assert.are.equal(2, env.rawget(setmetatable({}, mt), "b"))
      local t = setmetatable({}, mt)
      env.rawset(t, "c", 3)
      assert.are.equal(3, count(t))
      assert.is_nil(env.getmetatable(setmetatable({}, mt)))
      t = env.setmetatable(setmetatable({}, mt), { __index = function() return "dflt" end })
      assert.are.same({ 1, 2, "dflt" }, { t.a, t.b, t.c })
      -- other tables are left as they are
      local plain = setmetatable({}, { __index = function() return 9 end })
      assert.is_nil(env.next(plain))
      assert.is_nil(env.rawget(plain, "x"))
      assert.are.equal(9, plain.x)
    end)

    it("string.rep refuses results over MAX_REP, as strings and as methods' arguments", function()
      assert.are.equal("ab-ab", env.string.rep("ab", 2, "-"))
      assert.are.equal("", env.string.rep("ab", 0))
      assert.are.equal("55", env.string.rep(5, "2"))
      assert.matches("string.rep: the result would be 1099511627776 bytes",
        error_of(env.string.rep, "x", 2 ^ 40), 1, true)
      assert.matches("more than " .. sandbox.MAX_REP, error_of(env.string.rep, "", 2 ^ 30, "xy"), 1, true)
      assert.matches("number expected, got table", error_of(env.string.rep, "x", {}), 1, true)
    end)

    it("string.gsub works with functions and tables and refuses nesting over MAX_GSUB_DEPTH", function()
      assert.are.equal("A-B", (env.string.gsub("a-b", "%a", string.upper)))
      assert.are.equal("1-b", (env.string.gsub("a-b", "%a", { a = 1 })))
      assert.are.same({ "x.y", 1 }, { env.string.gsub("x y", " ", ".") })
      local gsub = env.string.gsub
      local function nest(s) return (gsub(s, "a", nest)) end
      assert.matches("string.gsub: nested more than " .. sandbox.MAX_GSUB_DEPTH .. " deep", error_of(nest, "a"),
        1, true)
      -- the count is back to 0 after the error
      local depth = 0
      local function nest_to(s)
        depth = depth + 1
        if depth >= sandbox.MAX_GSUB_DEPTH then return "z" end
        return (gsub(s, "a", nest_to))
      end
      assert.are.equal("z", nest_to("a"))
    end)

    it("os.date takes C99's conversions and refuses unknown ones, long formats and odd times", function()
      local date = env.os.date
      assert.are.equal("1970-01-01 00:00:00", date("!%Y-%m-%d %H:%M:%S", 0))
      assert.are.equal(1970, date("!*t", 0).year)
      assert.are.equal("70 01", date("!%Ey %Od", 0))
      assert.are.equal("%", date("!%%", 0))
      assert.is_string(date())
      for _, f in ipairs({ "%Ez", "%Q", "%", "abc%", "%10Y", "%-d", "%_H", "%E", "%O", "%Oz" }) do
        assert.matches("os.date: unknown conversion", error_of(date, f), 1, true)
      end
      assert.matches("os.date: format longer than", error_of(date, ("%Y"):rep(1000)), 1, true)
      assert.matches("os.date: time must be a number", error_of(date, "%Y", 1e300), 1, true)
      assert.matches("os.date: time must be a number", error_of(date, "%Y", 0 / 0), 1, true)
      assert.matches("os.date: format must be a string", error_of(date, {}), 1, true)
    end)
  end)

  describe("load", function()
    it("loads text into the caller's environment by default, or the env given", function()
      local env = sandbox.new_env()
      local fn = assert(env.load("x = 1; return _G, io, string.dump"))
      local g, io_, dump = fn()
      assert.are.equal(env, g)
      assert.is_nil(io_)
      assert.is_nil(dump)
      assert.are.equal(1, env.x)
      assert.is_nil(rawget(_G, "x"))
      local own = {}
      assert(env.load("y = 2", "=chunk", "t", own))()
      assert.are.equal(2, own.y)
      assert.is_nil(env.y)
      assert.are.equal(env, run(env, "return load('return _G')()"))
    end)

    it("refuses bytecode, reader functions, other modes and envs that are not tables", function()
      local env = sandbox.new_env()
      local fn, err = env.load(string.dump(function() return 1 end))
      assert.is_nil(fn)
      assert.are.equal("load: precompiled bytecode is not accepted, only Lua source", err)
      assert.matches("chunk must be a string of Lua source, got function",
        error_of(env.load, function() return nil end), 1, true)
      assert.matches('only text chunks are allowed (mode "t"), got mode b', error_of(env.load, "", "x", "b"), 1, true)
      assert.matches("got mode bt", error_of(env.load, "", "x", "bt"), 1, true)
      assert.matches("env must be a table, got string", error_of(env.load, "", "x", "t", "env"), 1, true)
    end)

    it("returns nil and the message for a syntax error", function()
      local fn, err = sandbox.new_env().load("return +", "=bad")
      assert.is_nil(fn)
      assert.matches("bad:1:", err, 1, true)
    end)
  end)

  describe("require", function()
    local dir

    setup(function()
      local p = io.popen("mktemp -d /tmp/eddy-sandbox.XXXXXX")
      dir = p:read("*l")
      p:close()
      os.execute("mkdir -p " .. dir .. "/lib/orders")
      local files = {
        ["lib/util.lua"] = "runs = (runs or 0) + 1\nlocal M = { name = ..., io = io }\nfunction M.twice(x) return 2 * x end\nreturn M\n",
        ["lib/orders/rules.lua"] = "local util = require 'util'\nreturn { big = function(q) return util.twice(q) > 10 end, util = util }\n",
        ["lib/nothing.lua"] = "x = 1\n",
        ["lib/loop_a.lua"] = "return require 'loop_b'\n",
        ["lib/loop_b.lua"] = "return require 'loop_a'\n",
        ["lib/broken.lua"] = "local x = \n",
        ["lib/raises.lua"] = "\nerror('no way')\n",
        ["lib/bytecode.lua"] = string.dump(function() return 1 end),
        ["secret.lua"] = "return 'secret'\n",
      }
      for name, text in pairs(files) do
        local f = assert(io.open(dir .. "/" .. name, "wb"))
        f:write(text)
        f:close()
      end
    end)

    teardown(function()
      os.execute("rm -rf " .. dir)
    end)

    it("loads lib/NAME.lua once per handler file, in an environment of its own", function()
      local env = sandbox.new_env({ json = json }, dir .. "/a.lua")
      local util = env.require("util")
      assert.are.equal(util, env.require("util"))
      assert.are.equal("util", util.name)
      assert.is_nil(util.io)
      assert.are.equal(6, util.twice(3))
      assert.is_nil(env.runs)
      local rules = env.require("orders.rules")
      assert.is_true(rules.big(6))
      assert.are.equal(util, rules.util)
      assert.is_true(env.require("nothing"))
      assert.is_nil(env.x)
    end)

    it("gives each handler file its own instance of a module", function()
      local a = sandbox.new_env({ json = json }, dir .. "/a.lua")
      local b = sandbox.new_env({ json = json }, dir .. "/b.lua")
      local ua, ub = a.require("util"), b.require("util")
      assert.are_not.equal(ua, ub)
      ua.twice = nil
      assert.is_function(ub.twice)
    end)

    it("refuses names that are not module names", function()
      local env = sandbox.new_env(nil, dir .. "/a.lua")
      for _, name in ipairs({ "../secret", "/etc/passwd", "lib.util", "", ".util", "util.", "a..b",
                              "orders/rules", "1x", "x-y", "util.lua" }) do
        if name ~= "lib.util" and name ~= "util.lua" then
          assert.matches("require: module names are words separated by dots", error_of(env.require, name), 1, true)
        else
          assert.matches("not found", error_of(env.require, name), 1, true)
        end
      end
      assert.matches("got table", error_of(env.require, {}), 1, true)
    end)

    it("reports missing modules, loops, bytecode and errors with the module's line", function()
      local env = sandbox.new_env(nil, dir .. "/a.lua")
      assert.matches('require: module "os" not found: no file ' .. dir .. "/lib/os.lua", error_of(env.require, "os"),
        1, true)
      assert.matches('require: "loop_a" is required again while it loads (a loop)', error_of(env.require, "loop_a"),
        1, true)
      assert.matches("precompiled bytecode is not accepted", error_of(env.require, "bytecode"), 1, true)
      assert.matches(dir .. "/lib/broken.lua:2:", error_of(env.require, "broken"), 1, true)
      assert.matches(dir .. "/lib/raises.lua:2: no way", error_of(env.require, "raises"), 1, true)
    end)

    it("loads no new module once the handler file has run", function()
      local env, done = sandbox.new_env(nil, dir .. "/a.lua")
      local util = env.require("util")
      done()
      assert.are.equal(util, env.require("util"))
      assert.matches('require: "nothing" was not loaded when the handler file loaded',
        error_of(env.require, "nothing"), 1, true)
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
