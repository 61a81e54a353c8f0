-- The handler sandbox from outside: handler files that try known escapes,
-- run by the real binary through eddy replay, one event each. Every escape
-- must fail its event with a clear reason (the dead-letter reason replay
-- prints) and leave the process running to its summary line.
local t = require "eddy_test"
local cjson = require "cjson"

-- { name, the body of on_event(ev, ctx), what the reason must contain }
local ESCAPES = {
  -- files, processes, the environment
  { "io", "io.open('/etc/passwd')", "attempt to index global 'io' (a nil value)" },
  { "os_execute", "os.execute('touch /tmp/eddy-escaped')", "attempt to call field 'execute' (a nil value)" },
  { "os_getenv", "return os.getenv('HOME')", "attempt to call field 'getenv' (a nil value)" },
  { "os_exit", "os.exit(0)", "attempt to call field 'exit' (a nil value)" },
  { "os_remove", "os.remove('/tmp/x')", "attempt to call field 'remove' (a nil value)" },
  { "print", "print('x')", "attempt to call global 'print' (a nil value)" },
  -- modules, C code, the VM
  { "package", "package.loadlib('libc.so.6', 'system')", "attempt to index global 'package' (a nil value)" },
  { "require_path", "require('../../etc/passwd')", "require: module names are words separated by dots" },
  { "require_late", "require('util')", 'require: "util" was not loaded when the handler file loaded' },
  { "module", "module('x')", "attempt to call global 'module' (a nil value)" },
  { "debug", "debug.getregistry()", "attempt to index global 'debug' (a nil value)" },
  { "ffi", "ffi.C.system('id')", "attempt to index global 'ffi' (a nil value)" },
  { "jit", "jit.off()", "attempt to index global 'jit' (a nil value)" },
  { "coroutine", "coroutine.wrap(function() end)()", "attempt to index global 'coroutine' (a nil value)" },
  { "newproxy", "newproxy(true)", "attempt to call global 'newproxy' (a nil value)" },
  { "getfenv", "getfenv(0).io.open('/etc/passwd')", "attempt to call global 'getfenv' (a nil value)" },
  { "setfenv", "setfenv(1, {})", "attempt to call global 'setfenv' (a nil value)" },
  { "collectgarbage", "collectgarbage('stop')", 'collectgarbage: only "count" is allowed, got stop' },
  { "gcinfo", "gcinfo()", "attempt to call global 'gcinfo' (a nil value)" },
  { "randomseed", "math.randomseed(1)", "attempt to call field 'randomseed' (a nil value)" },
  -- bytecode and loading
  { "string_dump", "string.dump(function() end)", "attempt to call field 'dump' (a nil value)" },
  { "string_dump_method", "return (''):dump()", "attempt to call method 'dump' (a nil value)" },
  { "loadstring", "loadstring('return 1')", "attempt to call global 'loadstring' (a nil value)" },
  { "dofile", "dofile('/etc/passwd')", "attempt to call global 'dofile' (a nil value)" },
  { "loadfile", "loadfile('/etc/passwd')", "attempt to call global 'loadfile' (a nil value)" },
  { "load_bytecode", "assert(load(string.char(27, 76, 74, 2) .. 'xyz'))",
    "load: precompiled bytecode is not accepted, only Lua source" },
  { "load_mode", "load('return 1', 'x', 'b')", 'load: only text chunks are allowed (mode "t"), got mode b' },
  { "load_reader", "load(function() return nil end)", "load: chunk must be a string of Lua source, got function" },
  { "load_env", "assert(load('return io.open'))()", "attempt to index global 'io' (a nil value)" },
  -- shared tables and metatables
  { "string_mt", "getmetatable('').__index.upper = nil", "attempt to index a boolean value" },
  { "array_mt_set", "json.array_mt.__index = function() return 1 end", "json.array_mt is read-only" },
  { "array_mt_of_data", "getmetatable(ev.data.lines).__index = {}", "json.array_mt is read-only" },
  { "array_mt_rawset", "rawset(json.array_mt, '__index', {})", "rawset: the table is read-only" },
  { "array_mt_setmetatable", "setmetatable(json.array_mt, {})", "cannot change a protected metatable" },
  { "json_null", "setmetatable(json.null, {})", "table expected, got userdata" },
  { "ctx_set", "ctx.upsert = function() end", "ctx is read-only" },
  { "ctx_rawset", "rawset(ctx, 'get', function() end)", "rawset: the table is read-only" },
  { "ctx_setmetatable", "setmetatable(ctx, nil)", "cannot change a protected metatable" },
  -- error objects and message handlers
  { "error_tostring", "error(setmetatable({}, { __tostring = function() return os.getenv('HOME') end }))",
    "error object is a table" },
  { "error_index", "error(setmetatable({}, { __index = function(t, k) return t[k] end }))",
    "error object is a table" },
  { "xpcall_handler", "local ok, e = xpcall(error, function() return debug.traceback() end); error(e, 0)",
    "error in error handling" },
  -- stack and memory (Redis' CVE-2021-32626, CVE-2022-24834 and the like)
  { "recursion", "local function f() return 1 + f() end f()", "stack overflow" },
  { "unpack", "return unpack({}, 1, 1e8)", "too many results to unpack" },
  { "string_byte", "return string.byte(('x'):rep(1e7), 1, -1)", "string slice too long" },
  { "gsub_nesting", "local function f(s) return (s:gsub('a', f)) end f('a')", "string.gsub: nested more than 100 deep" },
  { "string_rep", "return ('x'):rep(2^31)", "string.rep: the result would be 2147483648 bytes" },
  { "string_rep_sep", "return string.rep('', 2^30, 'ab')", "string.rep: the result would be" },
  { "format_width", "return string.format('%99999d', 1)", "invalid option" },
  { "pattern", "return string.match(('a'):rep(300000), ('a?'):rep(300000))", "pattern too complex" },
  { "sort", "local t = {} for i = 1, 100 do t[i] = i % 7 end table.sort(t, function() return true end)",
    "invalid order function for sorting" },
  { "json_nesting", "local v = {} local c = v for i = 1, 1e5 do c[1] = {} c = c[1] end json.encode(v)",
    "excessive nesting" },
  { "json_cycle", "local v = {} v.v = v json.encode(v)", "excessive nesting" },
  -- text past the encoder's cap, counted before anything is written (one
  -- 1 MB string fifty times: cheap to build even under a sanitizer)
  { "json_huge_string", "local s = ('\\1'):rep(1e6) local v = {} for i = 1, 50 do v[i] = s end json.encode(v)",
    "value too large" },
  { "json_many_strings", "local s = ('\\1'):rep(4e6) local v = {} for i = 1, 20 do v[i] = s end ctx.upsert('x', 'k', v)",
    "ctx.upsert: Cannot serialise, value too large" },
  -- endless loops through metamethods' tail calls: the CPU limit stops them
  { "tostring_loop", "local v; v = setmetatable({}, { __tostring = function(x) return tostring(x) end }) return tostring(v)",
    "CPU time limit of 500 ms exceeded" },
  { "call_loop", "local v = setmetatable({}, { __call = function(self) return self() end }) return v()",
    "CPU time limit of 500 ms exceeded" },
  { "upsert_cycle", "local v = {} v.v = v ctx.upsert('x', 'k', v)", "ctx.upsert: Cannot serialise, excessive nesting" },
  -- os.date passes its format to strftime
  { "date_ez", "return os.date('%Ez')", "os.date: unknown conversion %Ez in the format" },
  { "date_width", "return os.date('%2147483647Y')", "os.date: unknown conversion %2" },
  { "date_long", "return os.date(('%c'):rep(1e5))", "os.date: format longer than 1024 bytes" },
  { "date_time", "return os.date('%c', 1e300)", "os.date: time must be a number of seconds" },
}

-- Errors require raised while the handler file loaded, raised again by
-- on_event for the event whose id names them.
local REQUIRE_ESCAPES = {
  { "req_os", "os", 'require: module "os" not found: no file ' },
  { "req_ffi", "ffi", 'require: module "ffi" not found' },
  { "req_path", "../../../etc/passwd", "require: module names are words separated by dots" },
  { "req_abs", "/etc/passwd", "require: module names are words separated by dots" },
  { "req_evil", "evil", "handlers/lib/evil.lua:1: attempt to index global 'io' (a nil value)" },
  { "req_bytecode", "compiled", "precompiled bytecode is not accepted, only Lua source" },
  { "req_loop", "loop_a", 'require: "loop_a" is required again while it loads (a loop)' },
}

local function handler(types, body)
  return "return {\n  subscribe = { types = { \"" .. types .. "\" } },\n  on_event = function(ev, ctx)\n" ..
    body .. "\n  end,\n}\n"
end

describe("the handler sandbox", function()
  local dir, conf, rc, out

  setup(function()
    dir = t.tmpdir()
    local files = {}
    local records = {}
    for i, e in ipairs(ESCAPES) do
      files[("esc_%02d_%s.lua"):format(i, e[1])] = handler("escape." .. e[1], e[2])
      records[#records + 1] = e[1] .. "\t" .. t.event(e[1], 1, { type = "escape." .. e[1] })
    end

    local tries = {}
    for _, r in ipairs(REQUIRE_ESCAPES) do
      tries[#tries + 1] = ("  %s = select(2, pcall(require, %q)),"):format(r[1], r[2])
      records[#records + 1] = r[1] .. "\t" .. t.event(r[1], 1, { type = "escape.require" })
    end
    files["req.lua"] = "local errors = {\n" .. table.concat(tries, "\n") .. "\n}\n" ..
      handler("escape.require", "    error(errors[ev.id], 0)")

    -- one handler changes what it can; the next one (name order) must see
    -- none of it; both use the same lib module
    files["taint_1.lua"] = "local util = require 'util'\n" .. handler("escape.taint", [[
    string.upper = function() return "tainted" end
    string.rep = nil
    json.encode = nil
    leaked = "tainted"
    util.twice = nil
    util.state = "tainted"
    ctx.upsert("taint", "1", "done")]])
    files["taint_2.lua"] = "local util = require 'util'\n" .. handler("escape.taint", [[
    local seen = { ("x"):upper(), string.upper("x"), ("x"):rep(2), string.rep("x", 2),
      json.encode({ 1 }), tostring(leaked), util.twice(2), tostring(util.state) }
    ctx.upsert("taint", "2", json.array(seen))]])
    records[#records + 1] = "taint\t" .. t.event("taint", 1, { type = "escape.taint" })

    -- the process is unharmed: a plain handler after all of it
    files["ok.lua"] = handler("escape.ok", '    ctx.upsert("ok", ev.key, ev.data)')
    records[#records + 1] = "ok\t" .. t.event("ok", 1, { type = "escape.ok" })

    t.handlers(dir, files)
    t.sh("mkdir -p " .. t.q(dir .. "/handlers/lib"))
    t.write(dir .. "/handlers/lib/util.lua", "return { twice = function(x) return 2 * x end }\n")
    t.write(dir .. "/handlers/lib/evil.lua", "return io.open('/etc/passwd'):read('*a')\n")
    t.write(dir .. "/handlers/lib/compiled.lua", string.dump(function() return 1 end))
    t.write(dir .. "/handlers/lib/loop_a.lua", "return require 'loop_b'\n")
    t.write(dir .. "/handlers/lib/loop_b.lua", "return require 'loop_a'\n")
    t.write(dir .. "/in.kv", table.concat(records, "\n") .. "\n")
    conf = t.config(dir, nil, { retries = 0 })
    rc, out = t.sh("EDDY_HANDLER_CPU_LIMIT_MS=500 timeout 120 " .. t.q(t.bin) .. " replay -c " .. t.q(conf) .. " " ..
      t.q(dir .. "/in.kv"), true)
  end)

  teardown(function()
    t.sh("rm -rf " .. t.q(dir))
  end)

  -- The reason replay printed for the record with key (line line of in.kv).
  local function reason(line)
    return out:match("in%.kv:" .. line .. ": ([^\n]*)")
  end

  it("runs every escape to the end: exit 1 (invalid events), no crash, no sanitizer report", function()
    assert.are.equal(1, rc, out)
    local n = #ESCAPES + #REQUIRE_ESCAPES
    assert.matches(("%d records: 2 handled, 0 not subscribed, %d invalid"):format(n + 2, n), out, 1, true)
    assert.is_nil(out:find("Sanitizer", 1, true), out)
    assert.is_nil(out:find("runtime error", 1, true), out)
    assert.is_nil(t.read("/tmp/eddy-escaped"))
  end)

  it("refuses at least 30 known escapes, each with a clear reason", function()
    assert.is_true(#ESCAPES + #REQUIRE_ESCAPES >= 30)
    for i, e in ipairs(ESCAPES) do
      local r = reason(i)
      assert.is_not_nil(r, e[1] .. ": no reason in\n" .. out)
      local name = ("esc_%02d_%s.lua"):format(i, e[1])
      assert.matches("handler " .. name .. ": ", r, 1, true)
      assert.matches(e[3], r, 1, true)
    end
  end)

  it("refuses modules outside handlers/lib, bytecode, loops and what modules may not use", function()
    for i, e in ipairs(REQUIRE_ESCAPES) do
      local r = reason(#ESCAPES + i)
      assert.is_not_nil(r, e[1] .. ": no reason in\n" .. out)
      assert.matches("handler req.lua: ", r, 1, true)
      assert.matches(e[3], r, 1, true)
    end
  end)

  it("lets no handler change another's libraries, globals, json or modules", function()
    local rows = t.query(dir .. "/state.db", "select key, value from taint order by key")
    assert.are.equal(2, #rows)
    assert.are.same({ "X", "X", "xx", "xx", "[1]", "nil", 4, "nil" }, require("cjson").decode(rows[2].value))
  end)

  it("goes on handling events after all of it", function()
    local rows = t.query(dir .. "/state.db", "select key from ok")
    assert.are.same({ { key = "ok" } }, rows)
  end)
end)

-- What a handler writes must read back as written, and what it hands on
-- (published events, alerts, log lines) must say what it was given: what
-- cannot is refused at the handler's line. { name, the body of
-- on_event(ev, ctx), what the reason must contain (false: the event is
-- handled) }; run in this order, one event each.
local DEEP = "local v = {} local c = v for i = 2, %d do c[1] = {} c = c[1] end "
local WRITES = {
  { "bad_value", 'ctx.upsert("x", "shared", "\\255\\254")',
    "ctx.upsert: Cannot serialise a string that is not UTF-8 text: byte 0xff after '\"'" },
  { "read_after", 'ctx.upsert("x", "read", { got = ctx.get("x", "shared") or "nothing" })', false },
  { "bad_nested", 'ctx.upsert("x", "k", { a = { "ok", "ok\\192\\128" } })',
    "ctx.upsert: Cannot serialise a string that is not UTF-8 text: byte 0xc0 after '{\"a\":[\"ok\",\"ok'" },
  { "bad_table_key", 'ctx.upsert("x", "k", { ["\\237\\160\\128"] = 1 })',
    "ctx.upsert: Cannot serialise a string that is not UTF-8 text: byte 0xed after '{\"'" },
  { "too_deep", DEEP:format(129) .. 'ctx.upsert("x", "deep", v)', "ctx.upsert: Cannot serialise, excessive nesting (129)" },
  { "deep_ok", DEEP:format(128) .. 'ctx.upsert("x", "deep", v)', false },
  { "deep_read", 'ctx.upsert("x", "deep_read", { ok = ctx.get("x", "deep") ~= nil })', false },
  { "get_bad_key", 'ctx.upsert("x", "get_bad_key", { found = ctx.get("x", "\\255") ~= nil })', false },
  { "bad_publish", 'ctx.publish{ topic = "t", type = "x", key = "k", data = { a = "\\255" } }',
    "ctx.publish: Cannot serialise a string that is not UTF-8 text: byte 0xff after '{\"a\":\"'" },
  { "bad_labels", 'ctx.alert{ summary = "s", labels = { a = "\\255" } }',
    "ctx.alert: Cannot serialise a string that is not UTF-8 text" },
  { "bad_log_fields", 'ctx.log("info", "m", { a = "\\255" })', "ctx.log: Cannot serialise a string that is not UTF-8 text" },
  -- C strings end at a NUL byte: what follows it would be lost silently
  { "pub_topic_nul", 'ctx.publish{ topic = "t\\0evil", type = "x", key = "k", data = {} }',
    "ctx.publish: topic holds a NUL byte" },
  { "pub_key_nul", 'ctx.publish{ topic = "t", type = "x", key = "k\\0", data = {} }',
    "ctx.publish: key holds a NUL byte" },
  { "pub_header_nul", 'ctx.publish{ topic = "t", type = "x", key = "k", data = {}, headers = { ["h\\0x"] = "v" } }',
    "ctx.publish: a header name holds a NUL byte" },
  { "pub_header_value", 'ctx.publish{ topic = "t", type = "x", key = "k", data = {}, headers = { h = "v\\0x" } }',
    "ctx.publish: header h holds a NUL byte" },
  { "pub_key_utf8", 'ctx.publish{ topic = "t", type = "x", key = "\\255", data = {} }',
    "ctx.publish: key is not UTF-8 text" },
  { "pub_topic_name", 'ctx.publish{ topic = "t evil", type = "x", key = "k" }',
    "ctx.publish: topic \"t evil\" is not a Kafka topic name" },
  { "pub_ok", 'ctx.publish{ topic = "t", type = "x", key = "k\\195\\169", data = { a = "\\195\\169" }, headers = { h = "v" } }',
    false },
  { "alert_summary", 'ctx.alert{ summary = "s\\255" }', "ctx.alert: summary is not UTF-8 text" },
  { "alert_key", 'ctx.alert{ summary = "s", key = "k\\0x" }', "ctx.alert: key holds a NUL byte" },
  { "ns_nul", 'ctx.upsert("x\\0evil", "k", 1)', "ctx.upsert: namespace holds a NUL byte" },
  { "log_level_nul", 'ctx.log("info\\0x", "m")', "ctx.log: level holds a NUL byte" },
  -- log lines: one per call, whatever the message holds
  { "log_forged", 'ctx.log("info", "a\\n2026-01-01T00:00:00.000Z error forged\\0", { x = "b\\nc" })', false },
  -- no heap addresses: tostring, string.format, messages
  { "shown", 'local t = {} ctx.upsert("x", "shown", json.array({ tostring(t), tostring(t), tostring({}), ' ..
    'tostring(function() end), tostring(string.len), ("%s|%5s"):format(t, ctx), tostring(json.null), ' ..
    'select(2, pcall(collectgarbage, t)) }))', false },
  { "format_p", 'local s = string.format("%d %p", 1, {})', "string.format: %p is not available (it formats an address)" },
  { "json_encode", 'local s = json.encode({ "\\255" })', "Cannot serialise a string that is not UTF-8 text: byte 0xff after '[\"'" },
}

describe("what handlers write", function()
  local dir, rc, out

  setup(function()
    dir = t.tmpdir()
    local branches, records = {}, {}
    for i, w in ipairs(WRITES) do
      branches[#branches + 1] = ("    %sif ev.key == %q then\n      %s\n"):format(i > 1 and "else" or "", w[1], w[2])
      records[#records + 1] = w[1] .. "\t" .. t.event(w[1], 1, { type = "write" })
    end
    t.handlers(dir, { ["w.lua"] = handler("write", table.concat(branches) .. "    end") })
    t.write(dir .. "/in.kv", table.concat(records, "\n") .. "\n")
    rc, out = t.sh("timeout 60 " .. t.q(t.bin) .. " replay -c " .. t.q(t.config(dir, nil, { retries = 0 })) ..
      " " .. t.q(dir .. "/in.kv"), true)
  end)

  teardown(function()
    t.sh("rm -rf " .. t.q(dir))
  end)

  it("refuses what could not be read back or handed on, at the handler's line", function()
    for i, w in ipairs(WRITES) do
      local r = out:match("in%.kv:" .. i .. ": ([^\n]*)")
      if w[3] then
        assert.is_not_nil(r, w[1] .. ": no reason in\n" .. out)
        assert.matches("handler w.lua: [^ ]*/w.lua:%d+: ", r)
        assert.matches(w[3], r, 1, true)
      else
        assert.is_nil(r, w[1] .. " failed: " .. tostring(r))
      end
    end
    assert.are.equal(1, rc, out)
    assert.matches('\npublish t k\195\169 {"specversion":"1.0","id":"k\195\169",', out, 1, true)
    assert.matches('"data":{"a":"\195\169"}}\n', out, 1, true)
    assert.matches(' info  w.lua: a\\n2026-01-01T00:00:00.000Z error forged\\x00 {"x":"b\\nc"}\n', out, 1, true)
    assert.is_nil(out:find("\n2026-01-01T00:00:00.000Z error", 1, true), out)
  end)

  it("keeps the state readable: nothing stored by a refused write, the deepest value read back", function()
    local rows = t.query(dir .. "/state.db", "select key, value from x order by key")
    local got = {}
    for _, row in ipairs(rows) do got[row.key] = row.value end
    assert.is_nil(got.shared)
    assert.are.equal('{"got":"nothing"}', got.read)
    assert.are.equal('{"ok":true}', got.deep_read)
    assert.are.equal('{"found":false}', got.get_bad_key)
    assert.are.equal(("["):rep(127) .. "{}" .. ("]"):rep(127), got.deep)
    local shown = cjson.decode(got.shown)
    assert.are.same({ "table: 1", "table: 1", "table: 2", "function: 3", "function: builtin",
      "table: 1|table: 4", "userdata: NULL" }, { unpack(shown, 1, 7) })
    assert.matches('collectgarbage: only "count" is allowed, got table: 1$', shown[8])
    assert.is_nil(got.shown:find("0x", 1, true))
  end)
end)
