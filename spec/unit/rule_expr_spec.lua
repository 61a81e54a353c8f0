-- eddy.rule_expr: the condition and template language of alert rules.
local rule_expr = require "eddy.rule_expr"
local json = require "eddy.json"

-- The spec's own stand-in for the host's regex_match (PCRE2 in eddy): the
-- few regexes these specs use, each with a Lua pattern that matches the
-- same strings. Any other regex fails the spec. It counts its calls, so
-- specs can see whether a rule asked for a match at all.
local SPEC_REGEXES = { ["^ORD-[0-9]+$"] = "^ORD%-%d+$", ["cancel"] = "cancel" }
local spec_regex_calls = 0
local function spec_regex_match(subject, regex)
  spec_regex_calls = spec_regex_calls + 1
  local pattern = assert(SPEC_REGEXES[regex], "the spec's regex stand-in does not know " .. regex)
  return string.find(subject, pattern) ~= nil
end

local NOW = 1736857800 -- 2025-01-14T12:30:00Z

local function helpers(now)
  local H = rule_expr.new_helpers{ regex_match = spec_regex_match, array_mt = json.array_mt }
  H.now = now or NOW
  return H
end

-- An environment that fails on any global read or write: generated code
-- runs in one of these throughout this file.
local function strict_env()
  return setmetatable({}, {
    __index = function(_, k) error("the rule read the global " .. tostring(k), 2) end,
    __newindex = function(_, k) error("the rule wrote the global " .. tostring(k), 2) end,
  })
end

local function load_strict(code)
  return assert(load(code, "=rule", "t", strict_env()))
end

local function condition(src, opts)
  local code, err = rule_expr.compile(src, opts)
  assert(code, err)
  return load_strict(code)
end

-- The value of condition src on the event E (data, before, attributes).
local function eval(src, E, now)
  return condition(src)(E or {}, helpers(now))
end

local function render(src, E, now)
  local code, err = rule_expr.template(src)
  assert(code, err)
  return load_strict(code)(E or {}, helpers(now))
end

local function compile_error(src)
  local code, err = rule_expr.compile(src)
  assert.is_nil(code, "expected a compile error for " .. src)
  return err
end

-- src as a string literal of the rule language.
local function lit(s)
  return '"' .. s:gsub('[%c"\\\128-\255]', function(c)
    if c == '"' or c == "\\" then return "\\" .. c end
    if c:byte() >= 128 then return c end
    return string.format("\\u%04x", c:byte())
  end) .. '"'
end

local DATA = json.decode([[{
  "order_id": "ORD-11", "quantity": 12000, "unit": "pcs", "status": "cancelled",
  "s": "abc", "n": 5, "zero": 0, "empty": "", "flag": true, "off": false, "nothing": null,
  "list": [1, 2, null], "items": [{"sku": "A"}, {"sku": "B"}], "obj": {"a": 1, "b": {"c": 2}},
  "weird key": 7, "in": "kw", "delivery_date": "2025-01-10"
}]])

local function event(extra)
  local E = { data = DATA, before = { status = "open" }, type = "com.example.order.v1",
    subject = "ORD-11", tenant = "acme", time = "2025-01-14T12:00:00Z", key = "ORD-11",
    id = "ev-1", source = "/orders" }
  for k, v in pairs(extra or {}) do E[k] = v end
  return E
end

-- Asserts that each condition holds on event().
local function all_true(list, E)
  for _, src in ipairs(list) do
    assert.is_true(eval(src, E or event()), src)
  end
end

local function all_false(list, E)
  for _, src in ipairs(list) do
    assert.is_false(eval(src, E or event()), src)
  end
end

describe("eddy.rule_expr", function()
  describe("literals", function()
    it("reads numbers with decimals and exponents", function()
      all_true{ "12 == 12.0", "1.5e3 == 1500", "2E-2 == 0.02", "007 == 7", "0.5 * 2 == 1" }
    end)

    it("reads double and single quoted strings with their escapes", function()
      all_true{ [["it's" == 'it\'s']], [["a\"b" == 'a"b']], [["\\" == '\\']],
        [["\u00e9" == "é"]], [["\ud83d\ude00" == "😀"]], [["a\/b" == "a/b"]],
        [[len("\n\t\r\b\f") == 5]] }
    end)

    it("reads true, false, null and lists", function()
      all_true{ "true == true", "false == false", "null == null", "[1, 'a', null] == [1, 'a', null]",
        "[] == []", "len([1, [2, 3]]) == 2" }
    end)

    it("turns durations into seconds", function()
      all_true{ "500ms == 0.5", "10s == 10", "15m == 900", "2h == 7200", "2d == 172800",
        "1w == 604800", "1.5h == 5400", "1h30m == 5400", "1d12h == 129600", "-2d == -172800" }
    end)
  end)

  describe("paths", function()
    it("read data, before and the event attributes", function()
      all_true{ "data.quantity == 12000", "before.status == 'open'", "type == 'com.example.order.v1'",
        "subject == 'ORD-11'", "tenant == 'acme'", "time == '2025-01-14T12:00:00Z'",
        "key == 'ORD-11'", "id == 'ev-1'", "source == '/orders'", "data.obj.b.c == 2" }
    end)

    it("read keys that are not names with brackets, and keywords after a dot", function()
      all_true{ [[data["weird key"] == 7]], [[data['obj']["b"].c == 2]], "data.in == 'kw'",
        "data[data.s] == null", [[data["ob" ]["a"] == null]] }
    end)

    it("index lists from 0, and from the end with negative numbers", function()
      all_true{ "data.items[0].sku == 'A'", "data.items[1].sku == 'B'", "data.items[-1].sku == 'B'",
        "data.items[-2].sku == 'A'", "data.items[2] == null", "data.items[-3] == null",
        "data.items[0.5] == null", "data.items['0'] == null", "data.list[1 + 1] == null",
        "data.list[data.zero] == 1", "[10, 20][1] == 20" }
    end)

    it("are null when anything on the way is missing or not an object", function()
      all_true{ "data.missing == null", "data.a.b == null", "data.s.x == null", "data.n.x == null",
        "data.nothing == null", "data.nothing.x == null", "data.obj[0] == null", "data.list.x == null" }
      assert.is_true(eval("before.status == null", event{ before = json.null }))
      assert.is_true(eval("data.x == null and data == null", event{ data = json.null }))
      assert.is_true(eval("data.x == null and data == 'raw bytes'", event{ data = "raw bytes" }))
      assert.is_true(eval("data == null and before == null and tenant == null", {}))
    end)

    it("never reach string methods", function()
      all_true{ "data.s.upper == null", "data.s['len'] == null", "data.s.format == null",
        "len(data.s.rep) == null" }
    end)
  end)

  describe("precedence", function()
    it("binds * / % over + - over comparisons over not over and over or", function()
      all_true{ "1 + 2 * 3 == 7", "(1 + 2) * 3 == 9", "10 - 4 - 3 == 3", "2 * 3 % 4 == 2",
        "12 / 2 / 3 == 2", "-2 * 3 == -6", "-data.n * 2 == -10", "- (1 + 2) == -3",
        "true or false and false", "not (false or true) == false", "1 + 1 in [2]",
        "false or 1 < 2", "not 1 == 2", "not data.n == 4 and data.n == 5",
        "2 * 3 in [6] and not 2 * 3 in [5]" }
      all_false{ "not false and false", "(true or false) and false", "not true or false",
        "not 1 < 2" }
    end)

    it("refuses chained comparisons", function()
      assert.are.equal("7: comparisons do not chain: join them with 'and'", compile_error("1 < 2 < 3"))
      assert.are.equal("8: comparisons do not chain: join them with 'and'", compile_error("1 == 1 in [true]"))
    end)
  end)

  describe("operators", function()
    it("compare numbers with numbers and strings with strings, byte by byte", function()
      all_true{ "2 < 10", "2 <= 2", "3 > 2", "3 >= 3", "1 == 1.0", "1 != 2", "'a' < 'b'",
        "'10' < '2'", "'abc' >= 'abc'", "'B' < 'a'", "data.quantity > 10000" }
      all_false{ "10 < 2", "'2' < '10'", "2 > 2", "1 >= 2", "'b' <= 'a'" }
    end)

    it("are false across types, and == only holds for equal values of one type", function()
      all_false{ "'1' == 1", "1 == true", "'a' < 1", "'a' >= 1", "1 <= '1'", "true < false",
        "true >= false", "[1] < [2]", "null < 1", "null >= null", "data.obj > 0", "0 == false",
        "'' == null", "0 == null" }
      all_true{ "'1' != 1", "0 != null", "'' != null", "true != 'true'" }
    end)

    it("compare lists and objects by their contents, a missing member being null", function()
      all_true{ "data.items[0] == data.items[0]", "[1, 2, null] == data.list",
        "data.items == [data.items[0], data.items[1]]", "[[1], 'a'] == [[1], 'a']",
        "[1, null] == [1]", "[1] == [1, null]" }
      all_false{ "data.items[0] == data.items[1]", "[1, 2] == [2, 1]", "data.obj == data.items",
        "[1] == [1, 2]" }
      local E = { data = json.decode('{"x": {"a": 1, "b": null}, "y": {"a": 1}, "z": {"a": 1, "b": 2}}') }
      assert.is_true(eval("data.x == data.y", E))
      assert.is_true(eval("data.y == data.x", E))
      assert.is_false(eval("data.x == data.z", E))
    end)

    it("do arithmetic on numbers; anything else, x / 0 and overflow give null", function()
      all_true{ "7 % 3 == 1", "-7 % 3 == 2", "7 % -3 == -2", "7 / 2 == 3.5", "0.5 + 0.25 == 0.75",
        "1 / 0 == null", "5 % 0 == null", "1e308 * 10 == null", "1e308 / 1e-10 == null", "-1e308 - 1e308 == null",
        "'a' + 1 == null", "1 + '1' == null", "-'a' == null", "data.missing + 1 == null",
        "true * 2 == null", "[1] + [2] == null", "data.n - 2 == 3" }
    end)

    it("tell membership with in and not in", function()
      all_true{ "2 in [1, 2]", "'a' in ['a']", "null in [null]", "null in data.list", "2 in data.list",
        "[1] in [[1]]", "data.items[0] in data.items", "3 not in [1, 2]", "'1' not in [1]",
        "1 not in '123'", "1 not in data.obj", "1 not in null", "'a' not in []" }
      all_false{ "null in [1]", "1 in '123'", "'a' in data.obj", "1 in null" }
    end)

    it("treat null and false as false in and, or, not; everything else as true", function()
      all_true{ "not null", "not false", "not data.missing", "data.zero", "data.empty", "data.s",
        "data.list", "0 and ''", "null or true", "not (null and true)", "[] and true" }
      all_false{ "null", "false", "data.missing", "data.off", "not 0", "not ''", "null or false",
        "null and true", "true and null" }
    end)

    it("skip the right side of and/or when the left decides", function()
      local E = event()
      local function calls(src)
        local before = spec_regex_calls
        eval(src, E)
        return spec_regex_calls - before
      end
      assert.are.equal(0, calls("false and matches(data.status, 'cancel')"))
      assert.are.equal(0, calls("true or matches(data.status, 'cancel')"))
      assert.are.equal(1, calls("true and matches(data.status, 'cancel')"))
      assert.are.equal(1, calls("null or matches(data.status, 'cancel')"))
    end)
  end)

  describe("functions", function()
    it("contains: a substring (no pattern characters) or a list element", function()
      all_true{ "contains('abc', 'b')", "contains('abc', '')", "contains('a.c', '.')",
        "contains(data.list, 2)", "contains(data.list, null)", "contains(data.items, data.items[1])" }
      all_false{ "contains('abc', '.')", "contains('abc', 'd')", "contains(null, 'a')",
        "contains('abc', null)", "contains(123, 2)", "contains(data.obj, 'a')", "contains('1', 1)" }
    end)

    it("starts_with and ends_with: strings only", function()
      all_true{ "starts_with('ORD-11', 'ORD-')", "starts_with('x', '')", "ends_with('a.csv', '.csv')",
        "ends_with('x', '')", "starts_with(key, 'ORD')" }
      all_false{ "starts_with('ORD', 'ORD-')", "starts_with('a.b', '.')", "ends_with('abc', 'x')",
        "ends_with('a', 'ba')", "starts_with(null, '')", "ends_with(12, '2')", "starts_with('1', 1)" }
    end)

    it("matches: the host's regex, on strings only, the pattern a string literal", function()
      all_true{ "matches(data.order_id, '^ORD-[0-9]+$')", "matches(data.status, 'cancel')" }
      all_false{ "matches('ORD-1x', '^ORD-[0-9]+$')", "matches(data.missing, 'cancel')",
        "matches(data.n, 'cancel')" }
      assert.are.equal("17: matches: the pattern must be a string literal",
        compile_error("matches(data.x, data.re)"))
      local checked = {}
      local opts = { check_regex = function(re)
        checked[#checked + 1] = re
        if re == "(" then return nil, "missing closing parenthesis" end
        return true
      end }
      assert.is_truthy(rule_expr.compile("matches(data.s, 'cancel') or matches(data.t, '^x')", opts))
      table.sort(checked)
      assert.are.same({ "^x", "cancel" }, checked)
      local code, err, at = rule_expr.compile("data.ok and matches(data.s, '(')", opts)
      assert.is_nil(code)
      assert.are.equal("29: matches: invalid regex: missing closing parenthesis", err)
      assert.are.same({ line = 1, column = 29, offset = 29 }, at)
    end)

    it("lower, upper: ASCII letters of strings; null for anything else", function()
      all_true{ "lower('AbC-É') == 'abc-É'", "upper('abc') == 'ABC'", "lower(data.missing) == null",
        "upper(12) == null", "lower(data.status) == 'cancelled'" }
    end)

    it("len: characters of a string, elements of a list, members of an object", function()
      all_true{ "len('héllo') == 5", "len('') == 0", "len(data.list) == 3", "len(data.obj) == 2",
        "len([]) == 0", "len(12) == null", "len(null) == null", "len(true) == null" }
    end)

    it("abs: numbers only", function()
      all_true{ "abs(-3) == 3", "abs(2.5) == 2.5", "abs('3') == null", "abs(null) == null" }
    end)

    it("age: seconds from an RFC 3339 time or an epoch number to the evaluation's now", function()
      all_true{ "age('2025-01-14T12:00:00Z') == 1800", "age('2025-01-14t12:00:00z') == 1800",
        "age('2025-01-14T14:00:00+02:00') == 1800", "age('2025-01-14T12:00:00-01:00') == -1800",
        "age('2025-01-14T12:29:59.5Z') == 0.5", "age('2025-01-14 12:30:00Z') == 0",
        "age('2025-01-13') == 131400", "age(1736857000) == 800", "age(time) == 30m",
        "age('2025-01-15T12:30:00Z') == -1d", "age(data.delivery_date) > 2d",
        "age('2024-02-29') > 0", "age('2000-01-01T00:00:00Z') == 1736857800 - 946684800" }
      all_true{ "age('2025-13-01') == null", "age('2025-02-29') == null", "age('2025-01-32') == null",
        "age('2025-01-14T12:00:00') == null", "age('2025-01-14T24:00:00Z') == null",
        "age('2025-01-14T12:00:00.Z') == null", "age('2025-01-14T12:00:00+2:00') == null",
        "age('yesterday') == null", "age(null) == null", "age(true) == null", "age([1]) == null" }
      assert.is_true(eval("age('2025-01-14T12:00:00Z') == null", {}, "not a number"))
    end)

    it("now: the evaluation's time, the same for the whole evaluation", function()
      all_true{ "now() == 1736857800", "now() - 1h == 1736854200", "age(now()) == 0" }
      assert.is_true(eval("now() == null", {}, json.null))
    end)

    it("are checked by name and argument count when compiled", function()
      assert.are.equal("5: unknown function 'lenght'", compile_error("1 + lenght(data.x)"))
      assert.are.equal("1: len takes 1 argument, got 2", compile_error("len(data.a, 2)"))
      assert.are.equal("1: contains takes 2 arguments, got 1", compile_error("contains(data.a)"))
      assert.are.equal("1: now takes 0 arguments, got 1", compile_error("now(1)"))
      assert.are.equal("1: 'len' is a function: len(...)", compile_error("len > 2"))
    end)
  end)

  -- The table of docs/rules.md, evaluated: each row's expression must have
  -- the value its row gives, on the data the page shows above the table.
  describe("null and types, as docs/rules.md states them", function()
    local f = assert(io.open("docs/rules.md", "rb"))
    local doc = f:read("*a")
    f:close()
    local section = doc:match("\n## Null and types\n(.-)\n## ")
    local data_json = section:match("```json\n(.-)\n```")
    local rows = {}
    for expr, value in section:gmatch("\n| `([^`]+)` | `([^`]+)` |") do
      rows[#rows + 1] = { expr, value }
    end

    it("has a table of at least 30 rows", function()
      assert.is_true(#rows >= 30, #rows .. " rows")
    end)

    it("gives each row's value", function()
      local E = { data = json.decode(data_json) }
      for _, row in ipairs(rows) do
        local src = "(" .. row[1] .. ") == " .. row[2]
        assert.is_true(eval(src, E), src)
      end
    end)
  end)

  describe("documentation", function()
    it("shows the errors compile gives", function()
      local f = assert(io.open("docs/rules.md", "rb"))
      local section = f:read("*a"):match("\n## Errors\n(.-)\n## ")
      f:close()
      local n = 0
      for src, err in section:gmatch("\n| `([^`]+)` | `([^`]+)` |") do
        assert.are.equal(err, compile_error(src), src)
        n = n + 1
      end
      assert.is_true(n >= 5, n .. " rows")
    end)

    it("lists every function in docs/rules.md", function()
      local f = assert(io.open("docs/rules.md", "rb"))
      local doc = f:read("*a")
      f:close()
      assert.are.same({ "abs", "age", "contains", "ends_with", "len", "lower", "matches", "now",
        "starts_with", "upper" }, rule_expr.functions)
      for _, name in ipairs(rule_expr.functions) do
        assert.is_truthy(doc:find("| `" .. name .. "(", 1, true), name .. " is not in docs/rules.md")
      end
    end)
  end)

  describe("errors", function()
    it("give the column of the problem within the expression", function()
      local cases = {
        { "data.quantity > 10000 and and", "27: unexpected 'and'" },
        { "data.quantity > 10000 and", "26: unexpected end of expression" },
        { "data.x == 'abc", "11: unterminated string" },
        { '"\\q"', "2: invalid escape '\\q'" },
        { '"\\ud800"', "2: invalid \\u escape (four hex digits, surrogates in pairs)" },
        { "'\\u12'", "2: invalid \\u escape (four hex digits, surrogates in pairs)" },
        { "data.x # 1", "8: unexpected character '#'" },
        { "data.x == é", "11: unexpected character 'é'" },
        { '"ééé" and and', "11: unexpected 'and'" },
        { "data.x && data.y", "8: unexpected '&&' (use 'and')" },
        { "data.x || data.y", "8: unexpected '||' (use 'or')" },
        { "data.x = 5", "8: unexpected '=' (use '==')" },
        { "!data.x", "1: unexpected '!' (use 'not')" },
        { "quantity > 5", "1: unknown name 'quantity' (fields are read as data.quantity)" },
        { "(data.x", "8: unexpected end of expression, expected ')'" },
        { "[1, 2", "6: unexpected end of expression, expected ',' or ']'" },
        { "[1 2]", "4: unexpected '2', expected ',' or ']'" },
        { "data.", "6: expected a field name after '.'" },
        { 'data."x"', "6: expected a field name after '.'" },
        { "data[1", "7: unexpected end of expression, expected ']'" },
        { "", "1: empty expression" },
        { "   ", "4: empty expression" },
        { "1e999", "1: number out of range" },
        { "5min", "1: unknown duration unit in '5min' (units: ms, s, m, h, d, w)" },
        { "age(data.t) > 2days", "15: unknown duration unit in '2days' (units: ms, s, m, h, d, w)" },
        { "1h30", "1: a duration ends with a unit (ms, s, m, h, d, w)" },
        { "data.x not 5", "8: unexpected 'not'" },
        { "in", "1: unexpected 'in'" },
        { "not", "4: unexpected end of expression" },
        { "true false", "6: unexpected 'false'" },
        { "data.x }}", "8: unexpected '}}'" },
        { "data.x == 'a very long string literal indeed' and", "50: unexpected end of expression" },
        { "1 + 'a very long string literal indeed'(", "40: unexpected '('" },
        { "data.a == 'a very long string literal' 'b'", "40: unexpected ''b''" },
        { "data.a 'a very long string literal indeed'", "8: unexpected ''a very long string l...'" },
      }
      for _, c in ipairs(cases) do
        assert.are.equal(c[2], compile_error(c[1]), c[1])
      end
    end)

    it("give line and column in an expression of several lines", function()
      local code, err, at = rule_expr.compile("data.x == 1\n  and\n  and data.y")
      assert.is_nil(code)
      assert.are.equal("3:3: unexpected 'and'", err)
      assert.are.same({ line = 3, column = 3, offset = 21 }, at)
      assert.is_true(eval("data.n == 5\n  and data.s == 'abc'", event()))
    end)

    it("raise for a source that is not a string, and for helpers without regex_match", function()
      assert.has_error(function() rule_expr.compile(nil) end,
        "rule_expr.compile: the source must be a string, got nil")
      assert.has_error(function() rule_expr.template(12) end,
        "rule_expr.template: the source must be a string, got number")
      assert.has_error(function() rule_expr.new_helpers{} end,
        "rule_expr.new_helpers: opts.regex_match must be a function")
    end)
  end)

  describe("limits", function()
    it("nest 100 levels and refuse 101 with the place", function()
      local function nested(n, open, close, inner)
        return open:rep(n) .. inner .. close:rep(n)
      end
      assert.is_true(eval(nested(100, "(", ")", "1") .. " == 1"))
      assert.are.equal("101: nested more than 100 levels deep", compile_error(nested(101, "(", ")", "1")))
      assert.is_true(eval(nested(100, "[", "]", "1") .. " != null"))
      assert.are.equal("101: nested more than 100 levels deep", compile_error(nested(101, "[", "]", "1")))
      assert.is_true(eval(("not "):rep(100) .. "true"))
      assert.are.equal("401: nested more than 100 levels deep", compile_error(("not "):rep(101) .. "true"))
      assert.is_true(eval(("- "):rep(100) .. "1 == 1"))
      assert.is_true(eval(nested(99, "abs(", ")", "-1") .. " == 1"))
      -- a right operand waiting on its left one is a level too
      assert.is_true(eval(nested(49, "1 + (", ")", "1") .. " == 50"))
      assert.matches("nested more than 100 levels deep", compile_error(nested(51, "1 + (", ")", "1")))
      assert.is_true(eval(nested(90, "data.list[", "]", "0") .. " == null"))
      -- every precedence level waiting on its right operand (7 levels a round), 12 deep
      local mixed = nested(12, "(true or false and 1 == 1 + 2 * -(", "))", "1")
      assert.is_true(eval(mixed))
      assert.matches("nested more than 100 levels deep",
        compile_error(nested(40, "(false or true and 1 == 1 + 2 * -(", "))", "1")))
    end)

    it("compile long flat expressions: sums, or-chains, lists, paths", function()
      local terms = {}
      for i = 1, 5000 do terms[i] = "1" end
      assert.is_true(eval(table.concat(terms, " + ") .. " == 5000"))
      local ors = {}
      for i = 1, 2000 do ors[i] = "data.n == " .. (i + 4) end
      assert.is_true(eval(table.concat(ors, " or "), event()))
      local items = {}
      for i = 1, 5000 do items[i] = tostring(i) end
      assert.is_true(eval("4999 in [" .. table.concat(items, ", ") .. "]"))
      items[3000] = "data.n"
      assert.is_true(eval("5 in [" .. table.concat(items, ", ") .. "]", event()))
      assert.is_true(eval("data" .. (".a"):rep(3000) .. " == null", event()))
      local code, paths = rule_expr.compile("data" .. (".a"):rep(3000) .. " == null")
      assert.is_truthy(code)
      assert.are.equal(4 + 6000, #paths[1])
    end)

    it("refuse an expression longer than 64 KiB", function()
      local long = "1 + " .. ("1"):rep(rule_expr.MAX_LENGTH)
      assert.are.equal("1: longer than 65536 bytes", compile_error(long))
    end)
  end)

  describe("hostile input", function()
    local NASTY = { '"', "'", "\\", "]]", "]==]", "\n", "\r\n", "--", "--[[", "\0", "\\0\"",
      "%q", "\")os.exit(1)--", "' .. os.exit(1) .. '", "é\255\128", "${x}", "\27[31m",
      "{{tenant}}", "}}" }

    it("reach the generated code only as quoted constants", function()
      for _, s in ipairs(NASTY) do
        local E = { data = { [s] = s, x = s } }
        local src = "data[" .. lit(s) .. "] == " .. lit(s) .. " and data.x == " .. lit(s)
        local code, err = rule_expr.compile(src)
        assert(code, err)
        assert.is_nil(code:find("[^\n\32-\126]"), "the code is printable ASCII")
        assert.is_true(load_strict(code)(E, helpers()), src)
        assert.are.equal(s, render("{{data[" .. lit(s) .. "]}}", E))
        assert.are.equal("<" .. s .. ">", render("<{{ data.x }}>", E))
      end
    end)

    it("pass through template text verbatim", function()
      for _, s in ipairs(NASTY) do
        if not s:find("{{", 1, true) then
          local code = assert(rule_expr.template(s .. "{{tenant}}" .. s))
          assert.is_nil(code:find("[^\n\32-\126]"))
          assert.are.equal(s .. "acme" .. s, load_strict(code)({ tenant = "acme" }, helpers()))
        end
      end
    end)

    it("never make compile raise, whatever the bytes", function()
      local rng = 12345
      local function rand(n)
        rng = (rng * 1103515245 + 12345) % 2147483648
        return rng % n
      end
      local alphabet = { "data", ".", "a", "[", "]", "(", ")", "0", "1.5", "'x'", '"', "\\", "and",
        "or", "not", "in", "==", "<", "+", "-", "*", "/", "%", ",", "len", "contains", " ",
        "null", "2d", "e", "{{", "}}", "\n", "é", "\0", "before", "tenant", "age", "now" }
      for _ = 1, 1500 do
        local parts = {}
        for i = 1, rand(20) + 1 do parts[i] = alphabet[rand(#alphabet) + 1] end
        local src = table.concat(parts)
        local ok, code, err = pcall(rule_expr.compile, src)
        assert(ok, code)
        if code then
          local okr, v = pcall(load_strict(code), event(), helpers())
          assert(okr, v)
          assert.are.equal("boolean", type(v), src)
        else
          assert.matches("^%d+:?%d*: .", err)
        end
        local okt, tcode, terr = pcall(rule_expr.template, "x" .. src)
        assert(okt, tcode)
        if tcode then
          assert.are.equal("string", type(load_strict(tcode)(event(), helpers())))
        else
          assert.matches("^%d+:?%d*: .", terr)
        end
      end
    end)
  end)

  -- A rule's evaluation fails only on the sandbox's limits: no operator or
  -- function raises, whatever the values.
  describe("evaluation on every combination of values", function()
    local deep = {}
    local t = deep
    for _ = 1, 1200 do t.a = {} t = t.a end
    local VALUES = { "nil", json.null, false, true, 0, -1.5, 2 ^ 60, 0 / 0, 1 / 0, "", "abc",
      "2025-01-14T12:00:00Z", {}, json.array(), json.decode('[1, "a", null, [2]]'),
      json.decode('{"a": {"b": 1}, "c": null}'), deep, print, { [true] = 1, [2.5] = 2 } }
    local EXPRS = {
      "data.a == data.b", "data.a != data.b", "data.a < data.b", "data.a <= data.b",
      "data.a > data.b", "data.a >= data.b", "data.a in data.b", "data.a not in data.b",
      "data.a + data.b == 1", "data.a - data.b", "data.a * data.b", "data.a / data.b",
      "data.a % data.b", "-data.a", "not data.a", "data.a and data.b", "data.a or data.b",
      "data.a[data.b]", "data.a.x", "data.a[0]", "data.a[-1]", "contains(data.a, data.b)",
      "starts_with(data.a, data.b)", "ends_with(data.a, data.b)", "matches(data.a, 'cancel')",
      "lower(data.a)", "upper(data.a)", "len(data.a)", "abs(data.a)", "age(data.a)",
      "data.a in [data.b, null, 1]", "[data.a] == [data.b]", "now() - data.a",
    }

    it("conditions return true or false and templates a string, never an error", function()
      local H = helpers()
      local n = 0
      for _, src in ipairs(EXPRS) do
        local f = condition(src)
        local tf = load_strict(assert(rule_expr.template("<{{" .. src .. "}}>")))
        for _, a in ipairs(VALUES) do
          for _, b in ipairs(VALUES) do
            local E = { data = { a = a ~= "nil" and a or nil, b = b ~= "nil" and b or nil } }
            local ok, v = pcall(f, E, H)
            assert(ok, src .. ": " .. tostring(v))
            assert.are.equal("boolean", type(v), src)
            local okt, s = pcall(tf, E, H)
            assert(okt, src .. ": " .. tostring(s))
            assert.are.equal("string", type(s), src)
            n = n + 1
          end
        end
      end
      assert.are.equal(#EXPRS * #VALUES * #VALUES, n)
    end)

    it("hold for an event view that is not a table", function()
      for _, E in ipairs{ json.null, "x", 5, true } do
        assert.is_false(condition("data.a == 1")(E, helpers()))
        assert.is_true(condition("data == null and tenant == null")(E, helpers()))
      end
    end)
  end)

  describe("templates", function()
    local E = event{ data = json.decode([[{"order_id": "ORD-11", "quantity": 10000.0, "unit": "pcs",
      "ratio": 0.1, "third": 0.3333333333333333, "big": 1e20, "neg": -0.0, "max": 9007199254740991,
      "ok": true, "no": false, "none": null, "lines": [], "obj": {}, "mixed": {"b": [1, 2, {}],
      "a": null, "c": "x\"y\n"}, "list": [1, null, "a"]}]]) }
    -- as eddy's decoder hands them over: an empty JSON array is marked
    E.data.lines = json.array()

    it("render paths in text", function()
      assert.are.equal("Large order ORD-11: 10000 pcs",
        render("Large order {{data.order_id}}: {{data.quantity}} {{data.unit}}", E))
      assert.are.equal("acme", render("{{tenant}}", E))
      assert.are.equal("acme", render("{{  tenant\n }}", E))
      assert.are.equal("no braces here", render("no braces here", E))
      assert.are.equal("", render("", E))
      assert.are.equal("{a} } {", render("{a} } {", E))
      assert.are.equal("{{", render("{{ '{{' }}", E))
    end)

    it("render a missing value as nothing", function()
      assert.are.equal("[]", render("[{{data.missing}}]", E))
      assert.are.equal("[]", render("[{{data.none}}]", E))
      assert.are.equal("[]", render("[{{before.x.y}}]", E))
    end)

    it("render numbers as JSON does", function()
      local cases = { { "quantity", "10000" }, { "ratio", "0.1" }, { "big", "1e+20" },
        { "neg", "0" }, { "max", "9007199254740991" }, { "third", "0.3333333333333333" } }
      for _, c in ipairs(cases) do
        assert.are.equal(c[2], render("{{data." .. c[1] .. "}}", E), c[1])
      end
      assert.are.equal("-12.5", render("{{ -12.5 }}", E))
      assert.are.equal("1736857800", render("{{ now() }}", E))
      assert.are.equal("0.30000000000000004", render("{{ 0.1 + 0.2 }}", E))
    end)

    it("render booleans, and lists and objects as compact JSON with sorted keys", function()
      assert.are.equal("true false", render("{{data.ok}} {{data.no}}", E))
      assert.are.equal("[] {}", render("{{data.lines}} {{data.obj}}", E))
      assert.are.equal('{"a":null,"b":[1,2,{}],"c":"x\\"y\\n"}', render("{{data.mixed}}", E))
      assert.are.equal('[1,null,"a"]', render("{{data.list}}", E))
      assert.are.equal('[1,"a",null]', render("{{ [1, 'a', null] }}", E))
      -- keys that are not strings: numbers as JSON writes them, others left out
      assert.are.equal('{"2.5":2,"k":"v"}', render("{{data.x}}", { data = { x = { [2.5] = 2, k = "v",
        [true] = 1 } } }))
    end)

    it("take expressions too", function()
      assert.are.equal("20000 cancelled? false", render("{{ data.quantity * 2 }} cancelled? " ..
        "{{ data.status == 'cancelled' }}", E))
      assert.are.equal("ord-11", render("{{ lower(data.order_id) }}", E))
    end)

    it("return the fields they read", function()
      local code, paths = rule_expr.template("{{data.order_id}} {{tenant}} {{data.order_id}} " ..
        "{{ data.items[0].sku }} {{ lower(data['a b']) }}")
      assert.is_truthy(code)
      assert.are.same({ "data.order_id", "tenant", "data.items[0].sku", 'data["a b"]' }, paths)
      assert.are.same({}, select(2, rule_expr.template("plain")))
    end)

    it("report errors with the column in the template", function()
      local cases = {
        { "Order {{data.order_id", "7: unclosed '{{'" },
        { "Order {{ ", "7: unclosed '{{'" },
        { "{{}}", "1: empty '{{ }}'" },
        { "x {{ data.a b }}", "13: unexpected 'b', expected '}}'" },
        { "{{ data.a }", "11: unexpected '}', expected '}}'" },
        { "{{ data.a +", "12: unexpected end of expression" },
        { "{{ 'a }}", "4: unterminated string" },
        { "ok {{tenant}} {{ lenght(data.x) }}", "18: unknown function 'lenght'" },
      }
      for _, c in ipairs(cases) do
        local code, err = rule_expr.template(c[1])
        assert.is_nil(code, c[1])
        assert.are.equal(c[2], err, c[1])
      end
    end)

    it("hold hundreds of parts", function()
      local src = ("{{data.unit}}-"):rep(500)
      assert.are.equal(("pcs-"):rep(500), render(src, E))
    end)
  end)

  describe("fields", function()
    it("lists the paths a condition reads, each once, in order", function()
      assert.are.same({ "before.status", "data.status" },
        rule_expr.fields('before.status != "cancelled" and data.status == "cancelled"'))
      assert.are.same({ "data.items[0].sku", 'data["weird key"]', "tenant" },
        rule_expr.fields("data.items[0].sku == 'A' or data['weird key'] > 1 or tenant == 'x' or tenant == 'y'"))
      assert.are.same({ "data.items[*].sku", "data.i" }, rule_expr.fields("data.items[data.i].sku == 1"))
      assert.are.same({ "data.a" }, rule_expr.fields("lower(data.a).b == 'x'"))
      assert.are.same({ "data", "data.a.b" }, rule_expr.fields("data != null and data.a.b"))
      assert.are.same({ "data.a[-1]" }, rule_expr.fields("data.a[-1] + 1 > 2"))
      assert.are.same({}, rule_expr.fields("1 + 1 == 2"))
      local paths, err = rule_expr.fields("data.a and")
      assert.is_nil(paths)
      assert.are.equal("11: unexpected end of expression", err)
    end)
  end)

  describe("in the handler sandbox", function()
    it("loads through a sandbox environment's load, into an empty environment", function()
      local sandbox = require "eddy.sandbox"
      local env = sandbox.new_env({ json = json })
      local cond = assert(env.load(assert(rule_expr.compile("data.n > 1 and tenant == 'acme'")), "=rule",
        "t", {}))
      local text = assert(env.load(assert(rule_expr.template("n={{data.n}}")), "=summary", "t", {}))
      assert.is_true(cond({ data = { n = 2 }, tenant = "acme" }, helpers()))
      assert.are.equal("n=2", text({ data = { n = 2 } }, helpers()))
    end)
  end)

  describe("the examples of docs/rules.md", function()
    it("a change rule fires when the status becomes cancelled", function()
      local f = condition('before.status != "cancelled" and data.status == "cancelled"')
      local H = helpers()
      assert.is_true(f({ data = { status = "cancelled" } }, H)) -- first time the key is seen
      assert.is_true(f({ data = { status = "cancelled" }, before = { status = "open" } }, H))
      assert.is_false(f({ data = { status = "cancelled" }, before = { status = "cancelled" } }, H))
      assert.is_false(f({ data = { status = "open" }, before = { status = "open" } }, H))
    end)

    it("age and durations", function()
      local f = condition("age(data.delivery_date) > 2d and data.status != 'delivered'")
      assert.is_true(f({ data = { delivery_date = "2025-01-11T12:29:59Z", status = "open" } }, helpers()))
      assert.is_false(f({ data = { delivery_date = "2025-01-12T12:30:00Z", status = "open" } }, helpers()))
      assert.is_false(f({ data = { status = "open" } }, helpers()))
    end)
  end)
end)
