-- eddy.rule_expr: the condition and template language of alert rules,
-- translated into Lua source that runs in the handler sandbox.
--
-- A rule's condition (`data.quantity > 10000 and tenant == "acme"`) and its
-- templates (`Large order {{data.order_id}}`) are compiled here into the
-- body of a Lua function of (E, H):
--   E  the event view: E.data, E.before (the key's previous state) and the
--      attributes E.id, E.source, E.type, E.subject, E.time, E.tenant, E.key;
--   H  the helpers, from new_helpers: pure functions of this file, H.now
--      (the evaluation's time, seconds since the epoch, set by the host
--      before each call) and H.regex_match (the host's PCRE2).
-- The source starts with `local E, H = ...`: load it as a text chunk into
-- an empty environment and call it with E and H. It reads no globals, and
-- nothing of the rule's text is spliced into it but quoted string
-- constants and numbers, so a rule can only read its inputs. A condition
-- returns true or false, a template a string; neither raises a Lua error
-- for any input (only the sandbox's CPU and memory limits stop one).
--
-- The language, its null semantics and the template rendering are
-- described in docs/rules.md; a spec checks that every function here is
-- there.
--
-- Examples:
--   local src, paths = rule_expr.compile('before.status != "cancelled" and data.status == "cancelled"')
--   -- paths: { "before.status", "data.status" }
--   rule_expr.compile("data.a > and")   --> nil, "10: unexpected 'and'"
--   local src, paths = rule_expr.template("Large order {{data.order_id}}")
--   local H = rule_expr.new_helpers{ regex_match = pcre_match }
--   H.now = os.time()
--   load(src, "=rule", "t", {})(E, H)

local error, getmetatable, load, next, pcall, rawequal, rawget, setmetatable, tonumber, tostring,
	type = error, getmetatable, load, next, pcall, rawequal, rawget, setmetatable, tonumber,
	tostring, type
local math_abs, math_floor, math_huge = math.abs, math.floor, math.huge
local string_byte, string_char, string_find, string_format, string_gsub, string_lower,
	string_match, string_sub, string_upper =
	string.byte, string.char, string.find, string.format, string.gsub, string.lower,
	string.match, string.sub, string.upper
local table_concat, table_sort = table.concat, table.sort

local _M = {}

-- How deep an expression may nest (parentheses, lists, calls, indexes,
-- unary operators and the right operands of binary operators that wait on
-- a left one). Real conditions nest a few levels; the cap keeps the
-- generated function within LuaJIT's limits (its locals).
_M.MAX_DEPTH = 100
-- The longest expression or template, in bytes.
_M.MAX_LENGTH = 65536
-- How deep values are compared (==, in) and rendered (templates); JSON
-- values eddy decodes nest at most 1000 deep too.
_M.MAX_VALUE_DEPTH = 1000

-- The event attributes a rule reads by name, besides data and before.
_M.attributes = { "id", "source", "type", "subject", "time", "tenant", "key" }

-- Functions: name -> { arguments, helper in H }. now() is the evaluation's
-- H.now, read once per call.
local functions = {
	contains = { 2, "fn_contains" },
	starts_with = { 2, "fn_starts_with" },
	ends_with = { 2, "fn_ends_with" },
	matches = { 2, "fn_matches" },
	lower = { 1, "fn_lower" },
	upper = { 1, "fn_upper" },
	len = { 1, "fn_len" },
	abs = { 1, "fn_abs" },
	age = { 1, "fn_age" },
	now = { 0 },
}
_M.functions = {}
for name in next, functions do
	_M.functions[#_M.functions + 1] = name
end
table_sort(_M.functions)

-- Duration units in seconds; "ms" is tried before "m".
local UNITS = { { "ms", 0.001 }, { "s", 1 }, { "m", 60 }, { "h", 3600 }, { "d", 86400 },
	{ "w", 604800 } }

local KEYWORDS = { ["and"] = true, ["or"] = true, ["not"] = true, ["in"] = true,
	["true"] = true, ["false"] = true, ["null"] = true }

local ROOTS = { data = true, before = true }
for _, a in next, _M.attributes do
	ROOTS[a] = true
end

-- Operators other languages spell differently: what to write instead.
local HINTS = { ["="] = "==", ["&&"] = "and", ["||"] = "or", ["!"] = "not" }

---------------------------------------------------------------------------
-- Errors: raised inside the compiler as { pos = byte offset, msg = text },
-- returned by compile and template as "COL: msg" (or "LINE:COL: msg" for a
-- source of several lines), columns 1-based and counted in characters.

local ERR = {} -- marks the compiler's own errors

local function fail(pos, msg)
	error({ [ERR] = true, pos = pos, msg = msg }, 0)
end

local function where(src, pos)
	local line, start = 1, 1
	while true do
		local nl = string_find(src, "\n", start, true)
		if not nl or nl >= pos then
			break
		end
		line, start = line + 1, nl + 1
	end
	-- characters, not bytes: UTF-8 continuation bytes do not count
	local _, col = string_gsub(string_sub(src, start, pos - 1), "[^\128-\191]", "")
	return line, col + 1
end

-- Runs fn(src); returns its results, or nil, "COL: msg", { line, column,
-- offset } for an error of the source.
local function guarded(fn, src, ...)
	local ok, a, b = pcall(fn, src, ...)
	if ok then
		return a, b
	end
	if type(a) ~= "table" or not a[ERR] then
		error(a, 0)
	end
	local line, col = where(src, a.pos)
	local at = string_find(src, "\n", 1, true) and line .. ":" .. col or tostring(col)
	return nil, at .. ": " .. a.msg, { line = line, column = col, offset = a.pos }
end

---------------------------------------------------------------------------
-- Lexer. Tokens: { t = kind, v = value, pos = first byte, stop = last byte }
-- with kinds "num", "str", "name", "eof" and the operator itself ("==",
-- "(", "}}", ...). Read one at a time, so a template can stop at "}}".

local OPS2 = { ["=="] = true, ["!="] = true, ["<="] = true, [">="] = true, ["}}"] = true,
	["&&"] = true, ["||"] = true }
local OPS1 = { ["<"] = true, [">"] = true, ["+"] = true, ["-"] = true, ["*"] = true,
	["/"] = true, ["%"] = true, ["("] = true, [")"] = true, ["["] = true, ["]"] = true,
	[","] = true, ["."] = true, ["="] = true, ["!"] = true, ["{"] = true, ["}"] = true,
	["&"] = true, ["|"] = true }
local ESCAPES = { ['"'] = '"', ["'"] = "'", ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f",
	n = "\n", r = "\r", t = "\t" }

local function utf8_char(c)
	if c < 0x80 then
		return string_char(c)
	elseif c < 0x800 then
		return string_char(0xC0 + math_floor(c / 64), 0x80 + c % 64)
	elseif c < 0x10000 then
		return string_char(0xE0 + math_floor(c / 4096), 0x80 + math_floor(c / 64) % 64,
			0x80 + c % 64)
	end
	return string_char(0xF0 + math_floor(c / 262144), 0x80 + math_floor(c / 4096) % 64,
		0x80 + math_floor(c / 64) % 64, 0x80 + c % 64)
end

local function lex_string(src, pos)
	local q = string_sub(src, pos, pos)
	local parts, i = {}, pos + 1
	while true do
		local j = string_find(src, q == '"' and '["\\]' or "['\\]", i)
		if not j then
			fail(pos, "unterminated string")
		end
		parts[#parts + 1] = string_sub(src, i, j - 1)
		if string_sub(src, j, j) == q then
			return { t = "str", v = table_concat(parts), pos = pos, stop = j }
		end
		local e = string_sub(src, j + 1, j + 1)
		if ESCAPES[e] then
			parts[#parts + 1] = ESCAPES[e]
			i = j + 2
		elseif e == "u" then
			local hex = string_match(src, "^%x%x%x%x", j + 2)
			local c = hex and tonumber(hex, 16)
			i = j + 6
			if c and c >= 0xD800 and c <= 0xDBFF then
				local low = string_match(src, "^\\u(%x%x%x%x)", i)
				low = low and tonumber(low, 16)
				if low and low >= 0xDC00 and low <= 0xDFFF then
					c, i = 0x10000 + (c - 0xD800) * 1024 + (low - 0xDC00), i + 6
				else
					c = nil
				end
			elseif c and c >= 0xDC00 and c <= 0xDFFF then
				c = nil
			end
			if not c then
				fail(j, "invalid \\u escape (four hex digits, surrogates in pairs)")
			end
			parts[#parts + 1] = utf8_char(c)
		elseif e == "" then
			fail(pos, "unterminated string")
		else
			local ch = string_match(src, "^[%z\1-\127\194-\244][\128-\191]*", j + 1)
			fail(j, "invalid escape '\\" .. ch .. "'")
		end
	end
end

-- A number, or a duration: numbers each followed by a unit (1h30m).
local function lex_number(src, pos)
	local total, i, duration = 0, pos, false
	while true do
		local text = string_match(src, "^%d+%.?%d*", i)
		if not text or (duration and not string_find(text, "^%d")) then
			break
		end
		if string_sub(text, -1) == "." then
			text = string_sub(text, 1, -2) -- "5." is 5 followed by "."
		end
		local exp = string_match(src, "^[eE][+-]?%d+", i + #text)
		text = text .. (exp or "")
		local n = tonumber(text)
		i = i + #text
		local word = string_match(src, "^[%a_][%w_]*", i)
		if not word then
			if duration then
				fail(pos, "a duration ends with a unit (ms, s, m, h, d, w)")
			end
			total = n
			break
		end
		local scale
		for _, u in next, UNITS do
			if string_sub(word, 1, #u[1]) == u[1] and not string_find(word, "^[%a_]", #u[1] + 1) then
				scale, i = u[2], i + #u[1]
				break
			end
		end
		if not scale then
			fail(pos, "unknown duration unit in '" .. string_sub(src, pos, i + #word - 1) ..
				"' (units: ms, s, m, h, d, w)")
		end
		total, duration = total + n * scale, true
		if not string_find(src, "^%d", i) then
			break
		end
	end
	if total ~= total or total == math_huge then
		fail(pos, "number out of range")
	end
	return { t = "num", v = total, pos = pos, stop = i - 1 }
end

local function lex(src, pos)
	pos = string_find(src, "[^ \t\r\n]", pos) or #src + 1
	if pos > #src then
		return { t = "eof", pos = pos, stop = pos }
	end
	local c = string_sub(src, pos, pos)
	if string_find(c, "%d") then
		return lex_number(src, pos)
	elseif c == '"' or c == "'" then
		return lex_string(src, pos)
	end
	local name = string_match(src, "^[%a_][%w_]*", pos)
	if name then
		return { t = "name", v = name, pos = pos, stop = pos + #name - 1 }
	end
	local two = string_sub(src, pos, pos + 1)
	if OPS2[two] then
		return { t = two, pos = pos, stop = pos + 1 }
	elseif OPS1[c] then
		return { t = c, pos = pos, stop = pos }
	end
	local ch = string_match(src, "^[%z\1-\127\194-\244][\128-\191]*", pos) or c
	fail(pos, "unexpected character '" .. ch .. "'")
end

---------------------------------------------------------------------------
-- Parser: tokens to a tree of nodes { k = kind, pos = byte offset, ... }.

local P = {}
P.__index = P

local function parser(src, pos)
	local p = setmetatable({ src = src }, P)
	p.tok = lex(src, pos)
	return p
end

function P:advance()
	local t = self.tok
	self.tok = lex(self.src, t.stop + 1)
	return t
end

function P:is(kind, value)
	local t = self.tok
	return t.t == kind and (value == nil or t.v == value)
end

function P:unexpected(t, expected)
	t = t or self.tok
	local msg
	if t.t == "eof" then
		msg = "unexpected end of expression"
	else
		local text = string_sub(self.src, t.pos, t.stop)
		if #text > 24 then
			text = string_match(string_sub(text, 1, 21), "^(.-)[\128-\255]*$") .. "..."
		end
		msg = "unexpected '" .. text .. "'"
		if HINTS[t.t] then
			msg = msg .. " (use '" .. HINTS[t.t] .. "')"
		end
	end
	if expected then
		msg = msg .. ", expected " .. expected
	end
	fail(t.pos, msg)
end

function P:expect(kind, expected)
	if self.tok.t ~= kind then
		self:unexpected(nil, expected)
	end
	return self:advance()
end

function P:depth(d)
	if d > _M.MAX_DEPTH then
		fail(self.tok.pos, "nested more than " .. _M.MAX_DEPTH .. " levels deep")
	end
end

local CMP = { ["=="] = true, ["!="] = true, ["<"] = true, ["<="] = true, [">"] = true,
	[">="] = true }

function P:expr(d)
	self:depth(d)
	local l = self:conj(d)
	while self:is("name", "or") do
		local op = self:advance()
		l = { k = "or", pos = op.pos, l = l, r = self:conj(d + 1) }
	end
	return l
end

function P:conj(d)
	local l = self:negation(d)
	while self:is("name", "and") do
		local op = self:advance()
		l = { k = "and", pos = op.pos, l = l, r = self:negation(d + 1) }
	end
	return l
end

function P:negation(d)
	if self:is("name", "not") then
		self:depth(d + 1)
		local op = self:advance()
		return { k = "not", pos = op.pos, e = self:negation(d + 1) }
	end
	return self:comparison(d)
end

-- The operator of a comparison at the current token, or nil; "not in"
-- takes two tokens.
function P:cmp_op()
	local t = self.tok
	if CMP[t.t] then
		return t.t
	elseif t.t == "name" and t.v == "in" then
		return "in"
	elseif t.t == "name" and t.v == "not" then
		local after = lex(self.src, t.stop + 1)
		if after.t == "name" and after.v == "in" then
			return "not in"
		end
	end
end

function P:comparison(d)
	local l = self:sum(d)
	local op = self:cmp_op()
	if not op then
		return l
	end
	local t = self:advance()
	if op == "not in" then
		self:advance()
	end
	local node = { k = "cmp", op = op, pos = t.pos, l = l, r = self:sum(d + 1) }
	if self:cmp_op() then
		fail(self.tok.pos, "comparisons do not chain: join them with 'and'")
	end
	return node
end

function P:sum(d)
	local l = self:product(d)
	while self:is("+") or self:is("-") do
		local op = self:advance()
		l = { k = "arith", op = op.t, pos = op.pos, l = l, r = self:product(d + 1) }
	end
	return l
end

function P:product(d)
	local l = self:unary(d)
	while self:is("*") or self:is("/") or self:is("%") do
		local op = self:advance()
		l = { k = "arith", op = op.t, pos = op.pos, l = l, r = self:unary(d + 1) }
	end
	return l
end

function P:unary(d)
	if self:is("-") then
		self:depth(d + 1)
		local op = self:advance()
		local e = self:unary(d + 1)
		if e.k == "const" and type(e.v) == "number" then
			return { k = "const", v = -e.v, pos = op.pos }
		end
		return { k = "neg", pos = op.pos, e = e }
	end
	return self:postfix(d)
end

function P:postfix(d)
	local node = self:primary(d)
	while true do
		if self:is(".") then
			local dot = self:advance()
			if self.tok.t ~= "name" then
				fail(self.tok.pos, "expected a field name after '.'")
			end
			local name = self:advance()
			node = { k = "field", pos = dot.pos, obj = node, key = name.v }
		elseif self:is("[") then
			local open = self:advance()
			local key = self:expr(d + 1)
			self:expect("]", "']'")
			if key.k == "const" and type(key.v) == "string" then
				node = { k = "field", pos = open.pos, obj = node, key = key.v }
			else
				node = { k = "index", pos = open.pos, obj = node, key = key }
			end
		else
			return node
		end
	end
end

-- Comma-separated expressions up to the closing token, one level deeper
-- than d.
function P:items(d, close)
	local list = {}
	if self:is(close) then
		self:advance()
		return list
	end
	while true do
		list[#list + 1] = self:expr(d + 1)
		if self:is(close) then
			self:advance()
			return list
		end
		self:expect(",", "',' or '" .. close .. "'")
	end
end

function P:primary(d)
	local t = self.tok
	if t.t == "num" or t.t == "str" then
		self:advance()
		return { k = "const", v = t.v, pos = t.pos }
	elseif t.t == "(" then
		self:depth(d + 1)
		self:advance()
		local e = self:expr(d + 1)
		self:expect(")", "')'")
		return e
	elseif t.t == "[" then
		self:depth(d + 1)
		self:advance()
		return { k = "list", pos = t.pos, items = self:items(d, "]") }
	elseif t.t ~= "name" then
		self:unexpected()
	end
	local name = t.v
	if name == "true" or name == "false" then
		self:advance()
		return { k = "const", v = name == "true", pos = t.pos }
	elseif name == "null" then
		self:advance()
		return { k = "null", pos = t.pos }
	elseif KEYWORDS[name] then
		self:unexpected()
	end
	local call = lex(self.src, t.stop + 1).t == "("
	if ROOTS[name] and not call then
		self:advance()
		return { k = "root", pos = t.pos, name = name }
	end
	local fn = functions[name]
	if not fn then
		if call then
			fail(t.pos, "unknown function '" .. name .. "'")
		end
		fail(t.pos, "unknown name '" .. name .. "' (fields are read as data." .. name .. ")")
	elseif not call then
		fail(t.pos, "'" .. name .. "' is a function: " .. name .. "(...)")
	end
	self:depth(d + 1)
	self:advance()
	self:advance() -- "("
	local args = self:items(d, ")")
	if #args ~= fn[1] then
		fail(t.pos, string_format("%s takes %d argument%s, got %d", name, fn[1],
			fn[1] == 1 and "" or "s", #args))
	end
	return { k = "call", pos = t.pos, name = name, args = args }
end

---------------------------------------------------------------------------
-- Code generation. Every value is computed into a local r1, r2, ... (a
-- stack: an operand's local is free once it has been used), so the
-- generated function nests no deeper than a few levels whatever the
-- expression, and `and`/`or` skip their right operand with goto. Left-
-- nested chains (a + b + c, a or b or c, data.a.b.c) are walked in a loop:
-- the compiler's own recursion is bounded by MAX_DEPTH, not by the length
-- of an expression.

-- A Lua string literal of s in printable ASCII: every other byte, quotes
-- and backslashes as decimal escapes.
local function quote(s)
	return '"' .. string_gsub(s, '[%c"\\\128-\255]', function(c)
		return string_format("\\%03d", string_byte(c))
	end) .. '"'
end

-- Finite numbers only (the lexer refuses others): 17 digits read back
-- as the same double.
local function lua_number(n)
	return string_format("%.17g", n)
end

local JSON_ESCAPES = { ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
	["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }

local function json_string(s)
	return '"' .. string_gsub(s, '[%c"\\]', function(c)
		return JSON_ESCAPES[c] or string_format("\\u%04x", string_byte(c))
	end) .. '"'
end

-- A path as the paths list shows it: data.a.b, data["weird key"],
-- data.items[0], data.items[*] (an index computed at run time); nil for
-- what does not start at a root (lower(data.a).b).
local function path_of(node)
	local segments = {}
	while node.k == "field" or node.k == "index" do
		local s
		if node.k == "field" then
			s = string_find(node.key, "^[%a_][%w_]*$") and "." .. node.key or
				"[" .. json_string(node.key) .. "]"
		elseif node.key.k == "const" and type(node.key.v) == "number" then
			s = "[" .. lua_number(node.key.v) .. "]"
		else
			s = "[*]"
		end
		segments[#segments + 1] = s
		node = node.obj
	end
	if node.k ~= "root" then
		return nil
	end
	local out = { node.name }
	for i = #segments, 1, -1 do
		out[#out + 1] = segments[i]
	end
	return table_concat(out)
end

-- The operands of node, for walking a tree without recursion.
local function children(node)
	local list = {}
	for _, key in next, { "l", "r", "e", "obj", "key" } do
		if type(node[key]) == "table" then
			list[#list + 1] = node[key]
		end
	end
	for _, key in next, { "items", "args" } do
		for _, child in next, node[key] or {} do
			list[#list + 1] = child
		end
	end
	return list
end

local G = {}
G.__index = G

local function generator()
	return setmetatable({ lines = {}, top = 0, max = 0, labels = 0, used = {}, used_list = {},
		paths = {}, seen = {} }, G)
end

function G:line(s)
	self.lines[#self.lines + 1] = s
end

-- The local bound to H[name] in the prelude.
function G:use(name)
	if not self.used[name] then
		self.used[name] = true
		self.used_list[#self.used_list + 1] = name
	end
	return name
end

function G:alloc()
	self.top = self.top + 1
	if self.top > self.max then
		self.max = self.top
	end
	return "r" .. self.top
end

function G:release(is_temp)
	if is_temp then
		self.top = self.top - 1
	end
end

function G:label()
	self.labels = self.labels + 1
	return "L" .. self.labels
end

function G:record(node)
	local p = path_of(node)
	if p and not self.seen[p] then
		self.seen[p] = true
		self.paths[#self.paths + 1] = p
	end
end

local function truthy(x)
	return "(" .. x .. " ~= nil and " .. x .. " ~= false)"
end

local ARITH = { ["+"] = "add", ["-"] = "sub", ["*"] = "mul", ["/"] = "div", ["%"] = "mod" }
local CHAIN = { arith = true, ["and"] = true, ["or"] = true, field = true, index = true }
local PATH = { field = true, index = true }

local emit

-- Emits "r = helper(operands of nodes, extra...)"; returns r.
local function emit_call(g, name, nodes, extra)
	local ops, temps = {}, {}
	for i, n in next, nodes do
		ops[i], temps[i] = emit(g, n)
	end
	for i = #nodes, 1, -1 do
		g:release(temps[i])
	end
	if extra then
		ops[#ops + 1] = extra
	end
	local r = g:alloc()
	g:line(r .. " = " .. g:use(name) .. "(" .. table_concat(ops, ", ") .. ")")
	return r, true
end

-- One link of a chain: node applied to the value a (its left operand or
-- object) already computed.
local function emit_link(g, node, a, at)
	local k = node.k
	if k == "and" or k == "or" then
		g:release(at)
		local r, done = g:alloc(), g:label()
		if k == "and" then
			g:line("if not " .. truthy(a) .. " then " .. r .. " = false goto " .. done .. " end")
		else
			g:line("if " .. truthy(a) .. " then " .. r .. " = true goto " .. done .. " end")
		end
		local b, bt = emit(g, node.r)
		g:release(bt)
		g:line(r .. " = " .. truthy(b))
		g:line("::" .. done .. "::")
		return r, true
	end
	local b, bt
	if k == "arith" then
		b, bt = emit(g, node.r)
	elseif k == "index" then
		b, bt = emit(g, node.key)
	else
		b, bt = quote(node.key), false
	end
	g:release(bt)
	g:release(at)
	local r = g:alloc()
	local name = k == "arith" and ARITH[node.op] or k == "index" and "idx" or "get"
	g:line(r .. " = " .. g:use(name) .. "(" .. a .. ", " .. b .. ")")
	return r, true
end

local function emit_chain(g, node, base)
	local spine, n = {}, node
	while CHAIN[n.k] do
		spine[#spine + 1] = n
		n = n.l or n.obj
	end
	-- a field or index is a path of its own where its parent is not one
	local parent_is_path = base
	for i = 1, #spine do
		if PATH[spine[i].k] and not parent_is_path then
			g:record(spine[i])
		end
		parent_is_path = PATH[spine[i].k]
	end
	local a, at = emit(g, n, PATH[spine[#spine].k])
	for i = #spine, 1, -1 do
		a, at = emit_link(g, spine[i], a, at)
	end
	return a, at
end

local function emit_list(g, node)
	local consts = {}
	for i, item in next, node.items do
		if item.k ~= "const" then
			consts = nil
			break
		end
		consts[i] = type(item.v) == "string" and quote(item.v) or
			type(item.v) == "number" and lua_number(item.v) or tostring(item.v)
	end
	if consts then
		return "{" .. table_concat(consts, ", ") .. "}", false
	end
	local r = g:alloc()
	g:line(r .. " = {}")
	for i, item in next, node.items do
		local v, vt = emit(g, item)
		g:release(vt)
		if item.k == "null" then
			v = g:use("NULL")
		elseif item.k ~= "const" then
			v = "(" .. v .. " == nil and " .. g:use("NULL") .. " or " .. v .. ")"
		end
		g:line(r .. "[" .. i .. "] = " .. v)
	end
	return r, true
end

-- The helper and the order of its operands for each comparison: a > b is
-- b < a, a >= b is b <= a (operands are still computed left to right).
local COMPARE = { ["=="] = { "eq" }, ["!="] = { "eq", negate = true },
	["<"] = { "lt" }, ["<="] = { "le" }, [">"] = { "lt", swap = true },
	[">="] = { "le", swap = true }, ["in"] = { "has", swap = true },
	["not in"] = { "has", swap = true, negate = true } }

local function emit_compare(g, node)
	local how = COMPARE[node.op]
	local a, at = emit(g, node.l)
	local b, bt = emit(g, node.r)
	g:release(bt)
	g:release(at)
	if how.swap then
		a, b = b, a
	end
	local r = g:alloc()
	g:line(r .. " = " .. (how.negate and "not " or "") .. g:use(how[1]) .. "(" .. a .. ", " ..
		b .. ")")
	return r, true
end

-- Emits the code computing node; returns the operand (a local r<n> or a
-- constant) and whether it is a local that the caller must release. base:
-- node is the object of a field or index (so not a path of its own).
emit = function(g, node, base)
	local k = node.k
	if CHAIN[k] then
		return emit_chain(g, node, base)
	elseif k == "const" then
		local v = node.v
		if type(v) == "string" then
			return quote(v), false
		elseif type(v) == "number" then
			return lua_number(v), false
		end
		return tostring(v), false
	elseif k == "null" then
		return "nil", false
	elseif k == "list" then
		return emit_list(g, node)
	elseif k == "root" then
		if not base then
			g:record(node)
		end
		local r = g:alloc()
		g:line(r .. " = " .. g:use("get") .. "(E, " .. quote(node.name) .. ")")
		return r, true
	elseif k == "not" then
		local a, at = emit(g, node.e)
		g:release(at)
		local r = g:alloc()
		g:line(r .. " = not " .. truthy(a))
		return r, true
	elseif k == "neg" then
		return emit_call(g, "neg", { node.e })
	elseif k == "cmp" then
		return emit_compare(g, node)
	elseif node.name == "now" then
		g.now = true
		return "now", false
	elseif node.name == "age" then
		g.now = true
		return emit_call(g, "fn_age", node.args, "now")
	end
	return emit_call(g, functions[node.name][2], node.args)
end

function G:source(result)
	local out = { "local E, H = ..." }
	for _, name in next, self.used_list do
		out[#out + 1] = "local " .. name .. " = H." .. name
	end
	if self.now then
		out[#out + 1] = "local now = H.num(H.now)"
	end
	if self.out then
		out[#out + 1] = "local out = {}"
	end
	if self.max > 0 then
		local regs = {}
		for i = 1, self.max do
			regs[i] = "r" .. i
		end
		out[#out + 1] = "local " .. table_concat(regs, ", ")
	end
	for _, l in next, self.lines do
		out[#out + 1] = l
	end
	out[#out + 1] = result
	return table_concat(out, "\n") .. "\n"
end

-- Checks that the source loads (LuaJIT's limits: constants, jumps), so a
-- rule that compiles always runs.
local function loads(src)
	if not load(src, "=rule", "t", {}) then
		fail(1, "expression too long or too complex")
	end
	return src
end

---------------------------------------------------------------------------
-- The public functions.

local function check_length(src)
	if #src > _M.MAX_LENGTH then
		fail(1, "longer than " .. _M.MAX_LENGTH .. " bytes")
	end
end

-- Where the expression of node starts (a binary operator's node is at the
-- operator, a path's at its last segment).
local function start(node)
	while node.l or node.obj do
		node = node.l or node.obj
	end
	return node.pos
end

-- Every matches() pattern must be a string literal, so it is checked (and
-- compiled, by the host) once: check_regex(pattern) -> true | nil, msg.
local function check_patterns(tree, check_regex)
	local stack = { tree }
	while #stack > 0 do
		local node = stack[#stack]
		stack[#stack] = nil
		if node.k == "call" and node.name == "matches" then
			local re = node.args[2]
			if re.k ~= "const" or type(re.v) ~= "string" then
				fail(start(re), "matches: the pattern must be a string literal")
			end
			if check_regex then
				local ok, msg = check_regex(re.v)
				if not ok then
					fail(re.pos, "matches: invalid regex: " .. tostring(msg))
				end
			end
		end
		for _, child in next, children(node) do
			stack[#stack + 1] = child
		end
	end
end

local function compile(src, opts, as_value)
	check_length(src)
	local p = parser(src, 1)
	if p.tok.t == "eof" then
		fail(p.tok.pos, "empty expression")
	end
	local tree = p:expr(0)
	if p.tok.t ~= "eof" then
		p:unexpected()
	end
	check_patterns(tree, opts and opts.check_regex)
	local g = generator()
	local r = emit(g, tree)
	return loads(g:source("return " .. (as_value and r or truthy(r)))), g.paths
end

-- compile(src [, opts]) -> lua_source, paths | nil, err, where
-- The condition src as the Lua source of a function of (E, H) returning
-- true or false; paths: the fields it reads ("data.status",
-- "before.status", "tenant"), each once, in order. opts.check_regex(
-- pattern) -> true | nil, msg is asked about every matches() pattern, so a
-- bad one fails here. err is "COL: message" (or "LINE:COL: message" when
-- src has several lines); where = { line, column, offset } of the error.
-- A src that is not a string is a programmer error and raises.
local function entry(name, fn)
	return function(src, opts)
		if type(src) ~= "string" then
			error("rule_expr." .. name .. ": the source must be a string, got " .. type(src), 2)
		end
		return guarded(fn, src, opts)
	end
end
_M.compile = entry("compile", compile)

-- value(src [, opts]) -> lua_source, paths | nil, err, where: as compile,
-- but the function returns the expression's value (nil for null) rather
-- than whether it holds: what a rule compares (kind change) or a duration.
_M.value = entry("value", function(src, opts)
	return compile(src, opts, true)
end)

-- fields(src) -> paths | nil, err, where: the fields a condition reads.
function _M.fields(src)
	local code, paths, at = _M.compile(src)
	if not code then
		return nil, paths, at
	end
	return paths
end

-- ordered_paths(src) -> paths | nil, err, where: the paths of a condition
-- that an ordering comparison (< <= > >=) reads directly ("data.quantity"
-- in data.quantity > 10000): values that vary from event to event, which
-- make poor alert labels.
local function ordered_paths(src)
	check_length(src)
	local p = parser(src, 1)
	if p.tok.t == "eof" then
		fail(p.tok.pos, "empty expression")
	end
	local tree = p:expr(0)
	if p.tok.t ~= "eof" then
		p:unexpected()
	end
	local out, seen, stack = {}, {}, { tree }
	local ORDER = { ["<"] = true, ["<="] = true, [">"] = true, [">="] = true }
	while #stack > 0 do
		local node = stack[#stack]
		stack[#stack] = nil
		if node.k == "cmp" and ORDER[node.op] then
			for _, side in next, { node.l, node.r } do
				local path = path_of(side)
				if path and not seen[path] then
					seen[path] = true
					out[#out + 1] = path
				end
			end
		end
		for _, child in next, children(node) do
			stack[#stack + 1] = child
		end
	end
	return out
end
_M.ordered_paths = entry("ordered_paths", ordered_paths)

local function template(src, opts)
	check_length(src)
	local g, n, i = generator(), 0, 1
	while true do
		local open = string_find(src, "{{", i, true)
		local text = string_sub(src, i, open and open - 1 or #src)
		if text ~= "" then
			n = n + 1
			g:line("out[" .. n .. "] = " .. quote(text))
		end
		if not open then
			break
		end
		local p = parser(src, open + 2)
		if p.tok.t == "}}" then
			fail(open, "empty '{{ }}'")
		elseif p.tok.t == "eof" then
			fail(open, "unclosed '{{'")
		end
		local tree = p:expr(0)
		if p.tok.t == "eof" then
			fail(open, "unclosed '{{'")
		elseif p.tok.t ~= "}}" then
			p:unexpected(nil, "'}}'")
		end
		check_patterns(tree, opts and opts.check_regex)
		local v, vt = emit(g, tree)
		g:release(vt)
		n = n + 1
		g:line("out[" .. n .. "] = " .. g:use("render") .. "(" .. v .. ")")
		i = p.tok.stop + 1
	end
	if not g.used.render then -- text only
		return loads("local E, H = ...\nreturn " .. quote(src) .. "\n"), g.paths
	end
	g.out = true
	return loads(g:source("return " .. g:use("concat") .. "(out)")), g.paths
end

-- template(src [, opts]) -> lua_source, paths | nil, err, where
-- The template src (text with {{expression}} parts, usually a path:
-- "Large order {{data.order_id}}") as the Lua source of a function of
-- (E, H) returning the rendered string. paths: the fields it reads. Errors
-- and opts as for compile; columns count from the template's start.
_M.template = entry("template", template)

---------------------------------------------------------------------------
-- The helpers generated code calls (H). Values: a string, number, boolean
-- or table is itself; anything else (nil, json.null, a function) is null,
-- which is nil here. No helper raises an error for any argument.

local H = {}

-- NULL: a null element of a list built by the rule (nil would end it). Any
-- function is null to the helpers.
H.NULL = function() end

local function value(v)
	local t = type(v)
	if t == "string" or t == "number" or t == "boolean" or t == "table" then
		return v
	end
	return nil
end

function H.num(v)
	if type(v) == "number" and v == v then
		return v
	end
	return nil
end

-- t.k, read raw (no metamethods), for a table t.
function H.get(t, k)
	if type(t) ~= "table" then
		return nil
	end
	return value(rawget(t, k))
end

-- t[k]: k a string is a key; k an integer an index into a list, 0 the
-- first element, -1 the last.
function H.idx(t, k)
	if type(t) ~= "table" then
		return nil
	end
	if type(k) == "string" then
		return value(rawget(t, k))
	elseif type(k) ~= "number" or k ~= math_floor(k) then
		return nil
	end
	if k < 0 then
		k = #t + k
	end
	return value(rawget(t, k + 1))
end

local function equal(a, b, depth)
	a, b = value(a), value(b)
	if a == nil or b == nil then
		return a == nil and b == nil
	end
	if type(a) ~= type(b) then
		return false
	elseif type(a) ~= "table" then
		return a == b
	elseif rawequal(a, b) then
		return true
	elseif depth >= _M.MAX_VALUE_DEPTH then
		return false
	end
	-- every key of either: a key missing from one side is null there
	for key, v in next, a do
		if not equal(v, rawget(b, key), depth + 1) then
			return false
		end
	end
	for key, v in next, b do
		if rawget(a, key) == nil and value(v) ~= nil then
			return false
		end
	end
	return true
end

function H.eq(a, b)
	return equal(a, b, 0)
end

-- a < b for two numbers or two strings (byte order: LuaJIT compares
-- strings with memcmp, whatever the locale); false otherwise.
function H.lt(a, b)
	local t = type(a)
	if (t == "number" or t == "string") and type(b) == t then
		return a < b
	end
	return false
end

-- a <= b, the same way (so null <= null is false).
function H.le(a, b)
	local t = type(a)
	if (t == "number" or t == "string") and type(b) == t then
		return a <= b
	end
	return false
end

-- x in list: an element of the list equal to x (==).
function H.has(list, x)
	if type(list) ~= "table" then
		return false
	end
	for i = 1, #list do
		if equal(rawget(list, i), x, 0) then
			return true
		end
	end
	return false
end

-- Arithmetic on two numbers; null otherwise, and for a result that is not
-- a finite number (x / 0, overflow).
local function finite(n)
	if n ~= n or n == math_huge or n == -math_huge then
		return nil
	end
	return n
end

function H.add(a, b)
	if type(a) == "number" and type(b) == "number" then
		return finite(a + b)
	end
	return nil
end

function H.sub(a, b)
	if type(a) == "number" and type(b) == "number" then
		return finite(a - b)
	end
	return nil
end

function H.mul(a, b)
	if type(a) == "number" and type(b) == "number" then
		return finite(a * b)
	end
	return nil
end

function H.div(a, b)
	if type(a) == "number" and type(b) == "number" and b ~= 0 then
		return finite(a / b)
	end
	return nil
end

function H.mod(a, b)
	if type(a) == "number" and type(b) == "number" and b ~= 0 then
		return finite(a % b)
	end
	return nil
end

function H.neg(a)
	if type(a) == "number" then
		return -a
	end
	return nil
end

function H.fn_contains(s, x)
	if type(s) == "string" then
		return type(x) == "string" and string_find(s, x, 1, true) ~= nil
	end
	return H.has(s, x)
end

function H.fn_starts_with(s, prefix)
	return type(s) == "string" and type(prefix) == "string" and
		string_sub(s, 1, #prefix) == prefix
end

function H.fn_ends_with(s, suffix)
	return type(s) == "string" and type(suffix) == "string" and
		(suffix == "" or string_sub(s, -#suffix) == suffix)
end

function H.fn_lower(s)
	if type(s) == "string" then
		return string_lower(s)
	end
	return nil
end

function H.fn_upper(s)
	if type(s) == "string" then
		return string_upper(s)
	end
	return nil
end

-- Characters of a string (UTF-8), elements of a list, members of an
-- object.
function H.fn_len(v)
	if type(v) == "string" then
		local _, n = string_gsub(v, "[^\128-\191]", "")
		return n
	elseif type(v) == "table" then
		local n = 0
		for _ in next, v do
			n = n + 1
		end
		return n
	end
	return nil
end

function H.fn_abs(n)
	if type(n) == "number" then
		return math_abs(n)
	end
	return nil
end

local function days_from_civil(y, m, d)
	if m <= 2 then
		y = y - 1
	end
	local era = math_floor(y / 400)
	local yoe = y - era * 400
	local doy = math_floor((153 * ((m + 9) % 12) + 2) / 5) + d - 1
	return era * 146097 + yoe * 365 + math_floor(yoe / 4) - math_floor(yoe / 100) + doy - 719468
end

local function leap(y)
	return y % 4 == 0 and (y % 100 ~= 0 or y % 400 == 0)
end

local MONTH_DAYS = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 }

-- Seconds since the epoch of an RFC 3339 date-time
-- ("2025-01-14T12:30:00.5+02:00") or full-date ("2025-01-14", midnight
-- UTC); nil for anything else.
local function epoch(s)
	local y, m, d, rest = string_match(s, "^(%d%d%d%d)%-(%d%d)%-(%d%d)(.*)$")
	if not y then
		return nil
	end
	y, m, d = tonumber(y), tonumber(m), tonumber(d)
	if m < 1 or m > 12 or d < 1 or d > (m == 2 and leap(y) and 29 or MONTH_DAYS[m]) then
		return nil
	end
	local days = days_from_civil(y, m, d)
	if rest == "" then
		return days * 86400
	end
	local hh, mi, ss, frac, zone =
		string_match(rest, "^[Tt ](%d%d):(%d%d):(%d%d)(%.?%d*)([Zz+-].*)$")
	if not hh or frac == "." or (frac ~= "" and string_sub(frac, 1, 1) ~= ".") then
		return nil
	end
	hh, mi, ss = tonumber(hh), tonumber(mi), tonumber(ss)
	if hh > 23 or mi > 59 or ss > 60 then
		return nil
	end
	local offset = 0
	if zone ~= "Z" and zone ~= "z" then
		local sign, oh, om = string_match(zone, "^([+-])(%d%d):(%d%d)$")
		if not sign or tonumber(oh) > 23 or tonumber(om) > 59 then
			return nil
		end
		offset = (tonumber(oh) * 3600 + tonumber(om) * 60) * (sign == "+" and 1 or -1)
	end
	return days * 86400 + hh * 3600 + mi * 60 + ss + (tonumber("0" .. frac) or 0) - offset
end

-- epoch(text) -> seconds since the epoch of RFC 3339 text or a date, or
-- nil: the times age() reads, for the host's windows.
_M.epoch = epoch

-- Seconds from the time t (RFC 3339 text or seconds since the epoch) to
-- now: positive in the past, negative in the future.
function H.fn_age(t, now)
	if type(now) ~= "number" then
		return nil
	end
	if type(t) == "string" then
		t = epoch(t)
	end
	if type(t) ~= "number" then
		return nil
	end
	return finite(now - t)
end

-- JSON numbers: integers below 2^53 in full (10000, not 1e+04), others
-- with the fewest digits that read back the same.
local function render_number(n)
	if n ~= n or n == math_huge or n == -math_huge then
		return nil
	end
	if n == math_floor(n) and n > -2 ^ 53 and n < 2 ^ 53 then
		return string_format("%d", n)
	end
	for digits = 14, 17 do
		local s = string_format("%." .. digits .. "g", n)
		if tonumber(s) == n then
			return s
		end
	end
end

-- Compact JSON of v into buf; objects with their keys sorted, so a label
-- renders the same every time.
local function json(v, buf, depth, array_mt)
	v = value(v)
	local t = type(v)
	if t == "string" then
		buf[#buf + 1] = json_string(v)
	elseif t == "number" then
		buf[#buf + 1] = render_number(v) or "null"
	elseif t == "boolean" then
		buf[#buf + 1] = v and "true" or "false"
	elseif t ~= "table" or depth >= _M.MAX_VALUE_DEPTH then
		buf[#buf + 1] = "null"
	else
		local n, keys = #v, {}
		for key in next, v do
			keys[#keys + 1] = key
		end
		local is_array = (array_mt ~= nil and rawequal(getmetatable(v), array_mt)) or
			(n > 0 and #keys == n)
		if is_array then
			buf[#buf + 1] = "["
			for i = 1, n do
				if i > 1 then
					buf[#buf + 1] = ","
				end
				json(rawget(v, i), buf, depth + 1, array_mt)
			end
			buf[#buf + 1] = "]"
			return
		end
		local names = {}
		for i, key in next, keys do
			names[i] = type(key) == "string" and key or type(key) == "number" and
				render_number(key) or nil
		end
		local byname = {}
		for i, key in next, keys do
			if names[i] then
				byname[names[i]] = key
			end
		end
		local sorted = {}
		for name in next, byname do
			sorted[#sorted + 1] = name
		end
		table_sort(sorted)
		buf[#buf + 1] = "{"
		for i, name in next, sorted do
			if i > 1 then
				buf[#buf + 1] = ","
			end
			buf[#buf + 1] = json_string(name)
			buf[#buf + 1] = ":"
			json(rawget(v, byname[name]), buf, depth + 1, array_mt)
		end
		buf[#buf + 1] = "}"
	end
end

function H.concat(parts)
	return table_concat(parts)
end

-- The helpers for generated code: a new table with the functions above,
-- H.regex_match = opts.regex_match (function(subject, pattern) -> boolean;
-- the host's PCRE2; it must not raise), H.array_mt = opts.array_mt (the
-- marker of JSON arrays, so an empty one renders as []) and H.now =
-- opts.now (set it before each evaluation).
function _M.new_helpers(opts)
	opts = opts or {}
	if type(opts.regex_match) ~= "function" then
		error("rule_expr.new_helpers: opts.regex_match must be a function", 2)
	end
	local h = {}
	for k, v in next, H do
		h[k] = v
	end
	h.now, h.regex_match, h.array_mt = opts.now, opts.regex_match, opts.array_mt
	h.fn_matches = function(s, pattern)
		if type(s) ~= "string" or type(pattern) ~= "string" then
			return false
		end
		return h.regex_match(s, pattern) and true or false
	end
	-- A template's {{ }}: null is empty, a string itself, a number as JSON
	-- writes it, true/false, a list or object compact JSON.
	h.render = function(v)
		local t = type(v)
		if t == "string" then
			return v
		elseif t == "number" then
			return render_number(v) or ""
		elseif t == "boolean" then
			return v and "true" or "false"
		elseif t == "table" then
			local buf = {}
			json(v, buf, 0, h.array_mt)
			return table_concat(buf)
		end
		return ""
	end
	return h
end

return _M
