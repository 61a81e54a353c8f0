-- eddy.json: the JSON module handlers see as `json`, on top of lua-cjson.
--
-- What it adds to cjson (Debian's 2.1.0, which has no array metatable):
--   * json.null is cjson.null (a lightuserdata NULL): the same value in ev,
--     in json.decode results and in ctx.get results, encoded as null.
--   * Arrays are tables marked with json.array_mt. Every array eddy hands to
--     a handler (ev, ctx.get, json.decode) is marked, so an array that is
--     empty, or emptied by the handler, still encodes as [] and not {}.
--     Unmarked empty tables encode as {}. Mark your own with json.array(t).
--   * Numbers keep their value: cjson writes 14 significant digits, which
--     turns 1234567890123456 into 1.2345678901235e+15; numbers that 14
--     digits cannot hold are written with the fewest digits (up to 17) that
--     read back as the same double. Integers beyond 2^53 were already
--     rounded when they became Lua numbers (a JSON value stored unchanged
--     keeps its original text: see ctx.upsert).
--
-- Examples:
--   json.encode({ id = "A", lines = json.array({}) })  --> {"id":"A","lines":[]}
--   json.encode({ note = json.null })                  --> {"note":null}
--   local t = json.decode('{"a":[],"b":null}')         -- t.a is a marked empty array
--   json.encode(t)                                     --> {"a":[],"b":null}
--
-- Errors (a value cjson cannot write: a function, NaN, a cycle, nesting
-- deeper than eddy's decoder reads; text that is not JSON) are raised at the
-- caller's line. Inside eddy the host wraps encode (src/handlers_ctx.c): it
-- also refuses strings and keys that are not UTF-8, which cjson would copy
-- into text that is then not JSON.

local cjson = require "cjson"

local error, getmetatable, next, pairs, pcall, setmetatable, tonumber, type =
	error, getmetatable, next, pairs, pcall, setmetatable, tonumber, type
local huge = math.huge
local string_byte, string_format, string_gsub = string.byte, string.format, string.gsub
local io_open, os_clock, os_time, tostring = io.open, os.clock, os.time, tostring

-- An instance of our own: its settings change cjson for nobody else.
local cj = cjson.new()
cj.encode_sparse_array(true) -- {[1]=1,[20]=2} becomes an object, not an error
cj.encode_invalid_numbers(false) -- NaN and inf are errors
cj.decode_invalid_numbers(false)

-- As deep as eddy's decoder reads (EDDY_JSON_MAX_DEPTH in src/json.h): what
-- json.encode writes, ctx.get and json.decode can read back.
local MAX_DEPTH = 128
cj.encode_max_depth(MAX_DEPTH)
-- The most JSON text one encode may need, counted before cjson runs: each
-- string (values and keys) 6 bytes per byte, its worst case (\u0000
-- escapes), anything else 32. cjson's buffer sizes are C ints: a larger
-- request would overflow them (Redis' CVE-2022-24834). Inside eddy the
-- count is also charged to the memory limit while cjson's buffer, which is
-- outside the Lua state, exists (src/handlers_ctx.c).
local MAX_TEXT = 256 * 1024 * 1024
-- cjson keeps its buffer between calls, as large as the largest text it
-- wrote; after a larger text (or a failure half-way) it is given back.
local KEEP_BUFFER = 64 * 1024

local _M = {}

_M.null = cjson.null

-- Shared by every array of every handler, so the contents are read-only:
-- one handler adding __index here would change every other handler's
-- arrays. (rawset gets past this; do not.)
_M.array_mt = setmetatable({}, {
	__newindex = function()
		error("json.array_mt is read-only", 2)
	end,
	__metatable = false,
})
local array_mt = _M.array_mt

-- Placeholders stand for what cjson cannot write ([] and exact numbers) in a
-- copy of the value; they are replaced in cjson's output. The token is
-- random per process, so no string of a handler's data can be one.
local function random_token()
	local f = io_open("/dev/urandom", "rb")
	local bytes = f and f:read(16)
	if f then
		f:close()
	end
	if not bytes or #bytes ~= 16 then
		bytes = tostring({}) .. os_time() .. os_clock()
	end
	return "eddy" .. string_gsub(bytes, ".", function(c)
		return string_format("%02x", string_byte(c))
	end)
end
local TOKEN = random_token()
local PLACEHOLDER = '"' .. TOKEN .. '(%d*)"' -- cjson writes the token unescaped

-- The exact text of number n when cjson's 14 digits would change it, else
-- nil. NaN and inf are left for cjson to refuse.
local function exact_number(n)
	if n ~= n or n == huge or n == -huge then
		return nil
	end
	if n % 1 == 0 and n > -1e14 and n < 1e14 then
		return nil
	end
	if tonumber(string_format("%.14g", n)) == n then
		return nil
	end
	for digits = 15, 16 do
		local s = string_format("%." .. digits .. "g", n)
		if tonumber(s) == n then
			return s
		end
	end
	return string_format("%.17g", n)
end

local budget -- of the encode in progress: bytes of MAX_TEXT left

-- Inside eddy, the metatable of lazy objects (ev.data and ev.meta are
-- built on first use, src/lua_json.c) and what builds one: cjson reads
-- tables raw, so prepare builds them first. Bound once by the host, which
-- then takes bind_lazy away.
local lazy_mt, build = {}, nil
function _M.bind_lazy(mt)
	lazy_mt, build = mt, mt.__index
end

local function too_large()
	error("Cannot serialise, value too large (its JSON could exceed " .. MAX_TEXT .. " bytes)", 0)
end

-- Returns what cjson should see in v's place when that differs from v (a
-- placeholder string, or a copy of a table with placeholders inside), else
-- nil. Only tables on the way to a placeholder are copied. fixes collects
-- the texts of the placeholders: fixes[i] replaces TOKEN .. i.
local function prepare(v, fixes, depth)
	local t = type(v)
	if t == "string" then
		budget = budget - 6 * #v - 2
		if budget < 0 then
			too_large()
		end
	elseif t == "number" then
		local s = exact_number(v)
		if s then
			fixes[#fixes + 1] = s
			return TOKEN .. #fixes
		end
	elseif t == "table" then
		if depth > MAX_DEPTH then
			error("Cannot serialise, excessive nesting (" .. depth .. ")", 0)
		end
		if getmetatable(v) == lazy_mt then
			build(v)
		end
		if next(v) == nil then
			if getmetatable(v) == array_mt then
				return TOKEN
			end
			return nil
		end
		local copy
		for k, x in pairs(v) do
			budget = budget - (type(k) == "string" and 6 * #k + 3 or 32)
			if budget < 0 then
				too_large()
			end
			local r = prepare(x, fixes, depth + 1)
			if r ~= nil then
				if not copy then
					copy = {}
					for k2, x2 in pairs(v) do
						copy[k2] = x2
					end
				end
				copy[k] = r
			end
		end
		return copy
	end
	return nil
end

-- Error messages of cjson carry no position of their own; ours point at the
-- caller of json.encode / json.decode.
local function raise(msg, level)
	if type(msg) == "string" then
		msg = string_gsub(msg, "^[^:]*:%d+: ", "")
	end
	error(msg, level + 1)
end

-- Gives cjson's buffer back: it would keep the size of the largest text.
local function drop_buffer()
	cj.encode_keep_buffer(false)
	cj.encode_keep_buffer(true)
end

-- json.encode(value) -> text. value: table, string, number, boolean or
-- json.null. (reserve, for the host: called with the bytes cjson's buffer
-- may take before cjson runs, and with their negative once it is done.)
function _M.encode(value, reserve)
	local fixes = {}
	budget = MAX_TEXT
	local ok, prepared = pcall(prepare, value, fixes, 1)
	if not ok then
		raise(prepared, 2)
	end
	local need = MAX_TEXT - budget
	if reserve then
		reserve(need)
	end
	local text
	ok, text = pcall(cj.encode, prepared == nil and value or prepared)
	if not ok or #text > KEEP_BUFFER then
		drop_buffer()
	end
	if reserve then
		reserve(-need)
	end
	if not ok then
		raise(text, 2)
	end
	if prepared ~= nil then
		text = string_gsub(text, PLACEHOLDER, function(i)
			if i == "" then
				return "[]"
			end
			return fixes[tonumber(i)]
		end)
	end
	return text
end

local decode = cj.decode

-- json.decode(text) -> value. Inside eddy this is replaced by the host's
-- decoder (the same conversion as ev.data: every array marked, null as
-- json.null). This fallback, for using the module outside eddy, is plain
-- cjson: non-empty arrays are marked afterwards, but an empty [] cannot be
-- told from {} and comes back unmarked.
function _M.decode(text)
	if type(text) ~= "string" then
		error("json.decode: expected a string, got " .. type(text), 2)
	end
	local ok, v = pcall(decode, text)
	if not ok then
		raise(v, 2)
	end
	local function mark(t)
		if type(t) ~= "table" then
			return
		end
		if t[1] ~= nil then
			setmetatable(t, array_mt)
		end
		for _, x in pairs(t) do
			mark(x)
		end
	end
	mark(v)
	return v
end

-- json.array(t) marks table t (a new one when nil) as an array and returns
-- it: json.encode(json.array({})) is "[]".
function _M.array(t)
	if t == nil then
		t = {}
	elseif type(t) ~= "table" then
		error("json.array: expected a table, got " .. type(t), 2)
	elseif getmetatable(t) == lazy_mt then
		build(t)
	end
	return setmetatable(t, array_mt)
end

return _M
