-- eddy.sandbox: the environment a handler file runs in. What a handler may
-- reach is the allow-list below and nothing else: no files, processes,
-- network, bytecode or debug access, and modules only from the handlers
-- folder's lib/. The outside world is reached only through ctx (the second
-- argument of on_event) and json.

local error, ipairs, load, pairs, pcall, rawset, select, setmetatable, tostring, type, unpack =
	error, ipairs, load, pairs, pcall, rawset, select, setmetatable, tostring, type, unpack
local getmetatable, next = getmetatable, next
local collectgarbage, io_open = collectgarbage, io.open
local raw_getmetatable, getinfo = debug.getmetatable, debug.getinfo
local string_format = string.format
local os_date = os.date
local rawget, tonumber = rawget, tonumber
local string_byte, string_find, string_gmatch, string_gsub, string_match, string_rep, string_sub =
	string.byte, string.find, string.gmatch, string.gsub, string.match, string.rep, string.sub
local G = _G

local _M = {}

-- The allow-list, as data. globals: names taken from the host's globals.
-- Every other entry is a library: the members named are copied into a
-- table of the handler's own (a handler changing string.upper changes it
-- for itself only). A name listed in guards gets the guarded function
-- there instead of the host's. Not listed, so out of reach: io, the rest
-- of os, package, require and module (new_env gives a require of its
-- own), load, loadstring, loadfile, dofile, debug, ffi, jit, coroutine,
-- getfenv, setfenv, newproxy, gcinfo, print, string.dump,
-- math.randomseed.
_M.allowed = {
	globals = {
		"_VERSION", "assert", "collectgarbage", "error", "getmetatable", "ipairs", "next",
		"pairs", "pcall", "rawequal", "rawget", "rawset", "select", "setmetatable", "tonumber",
		"tostring", "type", "unpack", "xpcall",
	},
	string = {
		"byte", "char", "find", "format", "gmatch", "gsub", "len", "lower", "match", "rep",
		"reverse", "sub", "upper",
	},
	table = { "concat", "insert", "maxn", "remove", "sort" },
	math = {
		"abs", "acos", "asin", "atan", "atan2", "ceil", "cos", "cosh", "deg", "exp", "floor",
		"fmod", "frexp", "huge", "ldexp", "log", "log10", "max", "min", "modf", "pi", "pow",
		"rad", "random", "sin", "sinh", "sqrt", "tan", "tanh",
	},
	os = { "clock", "date", "time" },
	bit = {
		"arshift", "band", "bnot", "bor", "bswap", "bxor", "lshift", "rol", "ror", "rshift",
		"tobit", "tohex",
	},
}

-- What new_env makes for each environment, besides the allow-list.
_M.per_env = { "_G", "load", "require" }

-- The largest string string.rep makes.
_M.MAX_REP = 64 * 1024 * 1024
-- How deep string.gsub calls may nest through a function or table
-- replacement (gsub keeps an 8 KiB buffer on the C stack per level: LuaJIT
-- would run out of C stack long before its Lua stack limit and crash).
_M.MAX_GSUB_DEPTH = 100
-- The longest os.date format.
_M.MAX_DATE_FORMAT = 1024

-- strftime conversions os.date passes on: C99's, and %k %l %P %s, each
-- alone or, where C99 allows, after E or O. Anything else (glibc's flags
-- and widths, unknown letters) is refused before it reaches strftime.
local DATE_PLAIN = "aAbBcCdDeFgGhHIjklmMnpPrRsStTuUVwWxXyYzZ%"
local DATE_E, DATE_O = "cCxXyY", "deHImMSuUVwWy"

-- Guarded versions of allowed names: same use, refusing what would harm
-- the process or reach beyond the handler.
local guards = {}
_M.guards = guards

-- What tostring shows for a table, function, userdata or thread: not its
-- address (that would tell a handler where the allocator put things), but
-- "table: 1", "function: 2", numbered in the order tostring first met them
-- (per state; weak keys, so the numbering keeps nothing alive), and
-- "function: builtin" for the C functions of the runtime.
local shown = setmetatable({}, { __mode = "k" })
local n_shown = 0
local function show(v)
	local t = type(v)
	if t ~= "table" and t ~= "function" and t ~= "userdata" and t ~= "thread" then
		return tostring(v)
	end
	if t == "userdata" and tostring(v) == "userdata: NULL" then
		return tostring(v) -- json.null: no address in it
	end
	if t == "function" then
		-- C, or one of LuaJIT's built-ins made of bytecode (string.len)
		local info = getinfo(v, "S")
		if info.what == "C" or info.linedefined < 0 then
			return "function: builtin"
		end
	end
	local n = shown[v]
	if not n then
		n_shown = n_shown + 1
		n = n_shown
		shown[v] = n
	end
	return t .. ": " .. n
end
_M.show = show

-- tostring, except that it shows no addresses (show). A __tostring
-- metamethod still decides for its own tables.
guards.tostring = function(v)
	local mt = raw_getmetatable(v)
	if mt and rawget(mt, "__tostring") ~= nil then
		return tostring(v)
	end
	return show(v)
end

-- string.format, with tables, functions, userdata and threads shown as
-- tostring shows them (show), and without %p, which formats an address.
guards["string.format"] = function(format, ...)
	if type(format) == "string" then
		for conv in string_gmatch(format, "%%[-+ #0]*%d*%.?%d*(.)") do
			if conv == "p" then
				error("string.format: %p is not available (it formats an address)", 2)
			end
		end
	end
	local n = select("#", ...)
	local args = { ... }
	for i = 1, n do
		local t = type(args[i])
		if t == "table" or t == "function" or t == "userdata" or t == "thread" then
			args[i] = guards.tostring(args[i])
		end
	end
	return string_format(format, unpack(args, 1, n))
end

-- collectgarbage("count") only: the others would let one handler stop or
-- drive the collector of the state every handler shares.
guards.collectgarbage = function(opt)
	if opt ~= "count" then
		error('collectgarbage: only "count" is allowed, got ' .. show(opt), 2)
	end
	return collectgarbage("count")
end

-- ev.data and ev.meta are lazy objects (src/lua_json.c): empty tables that
-- fill themselves with their members on the first read or write of a key,
-- through their metatable. What reads or writes a table raw, or looks at
-- its metatable, builds a lazy object first, so it reads as the table it
-- stands for. (lazy_mt: a table nothing else has until the host binds the
-- real one.)
local lazy_mt, build = {}, nil

-- Called by the host once per state, before any handler loads: mt is the
-- metatable of the state's lazy objects; mt.__index(t) builds t.
function _M.bind_lazy(mt)
	lazy_mt, build = mt, mt.__index
end

-- t, built first when it is a lazy object
local function built(t)
	if getmetatable(t) == lazy_mt then
		build(t)
	end
	return t
end

guards.next = function(t, k)
	return next(built(t), k)
end

guards.pairs = function(t)
	return pairs(built(t))
end

guards.rawget = function(t, k)
	return rawget(built(t), k)
end

guards.getmetatable = function(t)
	return getmetatable(built(t))
end

-- mt too: a metatable's metamethods are read raw
guards.setmetatable = function(t, mt)
	return setmetatable(built(t), built(mt))
end

-- rawset, except on tables with a protected metatable: that is how every
-- table the runtime shares is read-only (json.array_mt, ctx), and rawset
-- would get past it.
guards.rawset = function(t, k, v)
	built(t)
	if type(t) == "table" then
		local mt = raw_getmetatable(t)
		if mt and rawget(mt, "__metatable") ~= nil then
			error("rawset: the table is read-only", 2)
		end
	end
	return rawset(t, k, v)
end

local function count_arg(n)
	return type(n) == "number" or (type(n) == "string" and tonumber(n) ~= nil)
end

guards["string.rep"] = function(s, n, sep)
	if (type(s) == "string" or type(s) == "number") and count_arg(n) and
		(sep == nil or type(sep) == "string" or type(sep) == "number") then
		n = tonumber(n)
		if n >= 1 then
			local size = #tostring(s) * n + (sep and #tostring(sep) * (n - 1) or 0)
			if size > _M.MAX_REP then
				error(("string.rep: the result would be %.0f bytes, more than %d"):format(size,
					_M.MAX_REP), 2)
			end
		end
	end
	return string_rep(s, n, sep)
end

local gsub_depth = 0
guards["string.gsub"] = function(s, pattern, repl, n)
	local t = type(repl)
	if t ~= "function" and t ~= "table" then
		return string_gsub(s, pattern, repl, n)
	end
	if gsub_depth >= _M.MAX_GSUB_DEPTH then
		error("string.gsub: nested more than " .. _M.MAX_GSUB_DEPTH .. " deep", 2)
	end
	gsub_depth = gsub_depth + 1
	local ok, r, count = pcall(string_gsub, s, pattern, repl, n)
	gsub_depth = gsub_depth - 1
	if not ok then
		error(r, 0)
	end
	return r, count
end

-- os.date with the format checked (see DATE_PLAIN) and a time that fits a
-- time_t; "*t" and a leading "!" (UTC) as in Lua.
guards["os.date"] = function(format, time)
	if format ~= nil then
		if type(format) == "number" then
			format = tostring(format)
		elseif type(format) ~= "string" then
			error("os.date: format must be a string, got " .. type(format), 2)
		end
		if #format > _M.MAX_DATE_FORMAT then
			error("os.date: format longer than " .. _M.MAX_DATE_FORMAT .. " bytes", 2)
		end
		local body = string_match(format, "^!?(.*)$")
		if body ~= "*t" then
			local i = 1
			while true do
				i = string_find(body, "%", i, true)
				if not i then
					break
				end
				local c = string_sub(body, i + 1, i + 1)
				local set, len = DATE_PLAIN, 2
				if c == "E" or c == "O" then
					set, len = c == "E" and DATE_E or DATE_O, 3
					c = string_sub(body, i + 2, i + 2)
				end
				if c == "" or not string_find(set, c, 1, true) then
					error("os.date: unknown conversion " .. string_sub(body, i, i + len - 1) ..
						" in the format", 2)
				end
				i = i + len
			end
		end
	end
	if time ~= nil then
		time = tonumber(time)
		if not time or time ~= time or time >= 2 ^ 53 or time <= -2 ^ 53 then
			error("os.date: time must be a number of seconds, got " .. show(time), 2)
		end
	end
	return os_date(format, time)
end

local function lookup(lib, name)
	local guard = guards[lib and lib .. "." .. name or name]
	if guard then
		return guard
	end
	if lib then
		return G[lib][name]
	end
	return G[name]
end

local function pick(lib, names)
	local t = {}
	for _, name in ipairs(names) do
		t[name] = lookup(lib, name)
	end
	return t
end

local function copy(from)
	local t = {}
	for k, v in pairs(from) do
		t[k] = v
	end
	return t
end

-- Methods on strings ("x"):upper() go through the one string metatable the
-- whole state shares. Once per state, before any handler runs: its __index
-- becomes the allowed string functions only (so ("").dump is nil), and
-- getmetatable("") returns false, so no handler can reach or change it.
-- The host's own Lua code keeps the full string library through locals.
function _M.protect_strings()
	local mt = raw_getmetatable("")
	mt.__index = pick("string", _M.allowed.string)
	mt.__metatable = false
end

-- load(chunk [, name [, mode [, env]]]) for one environment: chunk a
-- string of Lua source (no reader functions, no bytecode), env the
-- environment it runs in, by default the one this load belongs to, never
-- the host's globals. Returns the function, or nil and the error.
local function make_load(default_env)
	return function(chunk, name, mode, env)
		if type(chunk) ~= "string" then
			error("load: chunk must be a string of Lua source, got " .. type(chunk), 2)
		end
		if mode ~= nil and mode ~= "t" then
			error('load: only text chunks are allowed (mode "t"), got mode ' .. show(mode), 2)
		end
		if env == nil then
			env = default_env
		elseif type(env) ~= "table" then
			error("load: env must be a table, got " .. type(env), 2)
		end
		if name ~= nil and type(name) ~= "string" then
			error("load: name must be a string, got " .. type(name), 2)
		end
		if string_byte(chunk, 1) == 27 then
			return nil, "load: precompiled bytecode is not accepted, only Lua source"
		end
		return load(chunk, name, "t", env)
	end
end

local LOADING = {} -- in loaded[name] while that module runs

-- true for "util" and "orders.rules": words of letters, digits and _ (not
-- starting with a digit) joined by dots; so never "..", "/" or a path.
local function module_name(name)
	if type(name) ~= "string" or #name > 200 then
		return false
	end
	for part in string_gmatch(name .. ".", "([^.]*)%.") do
		if not string_find(part, "^[%a_][%w_]*$") then
			return false
		end
	end
	return true
end

-- require(name) for the environments of one handler file (mods: its
-- modules). It loads <handlers>/lib/NAME.lua (dots in NAME are folders)
-- as Lua source into an environment of its own with this same allow-list,
-- runs it once, and returns what it returned (true for nothing). Each
-- handler file has its own instances: two handler files requiring the same
-- module each run it, so neither can change the other's. New modules load
-- only while the handler file loads (mods.open); later, require returns
-- the ones already loaded.
local function make_require(mods)
	return function(name)
		if not module_name(name) then
			error("require: module names are words separated by dots (handlers/lib/NAME.lua), got " ..
				(type(name) == "string" and '"' .. name .. '"' or type(name)), 2)
		end
		local m = mods.loaded[name]
		if m == LOADING then
			error('require: "' .. name .. '" is required again while it loads (a loop)', 2)
		elseif m ~= nil then
			return m
		end
		if not mods.open then
			error('require: "' .. name .. '" was not loaded when the handler file loaded; ' ..
				"call require at the top of the file", 2)
		end
		if not mods.lib then
			error('require: no lib folder to load "' .. name .. '" from', 2)
		end
		local path = mods.lib .. "/" .. string_gsub(name, "%.", "/") .. ".lua"
		local f = io_open(path, "rb")
		if not f then
			error('require: module "' .. name .. '" not found: no file ' .. path, 2)
		end
		local text = f:read("*a")
		f:close()
		if not text then
			error("require: cannot read " .. path, 2)
		end
		if string_byte(text, 1) == 27 then
			error(path .. ": precompiled bytecode is not accepted, only Lua source", 2)
		end
		local env = _M.new_env(mods.extra, nil, mods)
		local fn, err = load(text, "@" .. path, "t", env)
		if not fn then
			error(err, 0)
		end
		mods.loaded[name] = LOADING
		local ok, result = pcall(fn, name)
		if not ok then
			mods.loaded[name] = nil
			error(result, 0)
		end
		if result == nil then
			result = true
		end
		mods.loaded[name] = result
		return result
	end
end

-- A new environment for one handler file, the handlers/NAME.lua at path:
-- the allowed globals, its own copies of the allowed libraries, its own
-- shallow copy of each table in extra (e.g. { json = json }), and its own
-- _G, load and require. Globals the handler sets stay in it. Returns the
-- environment and a function to call once the file has run: from then on
-- require loads no new modules. (mods is for require's own use: the
-- modules of a handler file share it.)
function _M.new_env(extra, path, mods)
	if not mods then
		local dir = path and string_match(path, "^(.*)/[^/]*$")
		mods = { extra = extra, lib = dir and dir .. "/lib" or path and "lib", loaded = {},
			open = true }
	end
	local env = {}
	for lib, names in pairs(_M.allowed) do
		if lib == "globals" then
			for _, g in ipairs(names) do
				env[g] = lookup(nil, g)
			end
		else
			env[lib] = pick(lib, names)
		end
	end
	for name, v in pairs(extra or {}) do
		env[name] = type(v) == "table" and copy(v) or v
	end
	env._G = env
	env.load = make_load(env)
	env.require = make_require(mods)
	return env, function()
		mods.open = false
	end
end

return _M
