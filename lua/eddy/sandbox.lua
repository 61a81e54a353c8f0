-- eddy.sandbox: the environment a handler file runs in. What a handler may
-- reach is the allow-list below and nothing else: no files, processes,
-- network, module loading, bytecode or debug access. The outside world is
-- reached only through ctx (the second argument of on_event) and json.

local getmetatable, ipairs, pairs, type = getmetatable, ipairs, pairs, type
local G = _G

local _M = {}

-- The allow-list, as data. globals: names copied from the host's globals.
-- Every other entry is a library: the members named are copied into a
-- table of the handler's own (a handler changing string.upper changes it
-- for itself only).
_M.allowed = {
	globals = {
		"_VERSION", "assert", "error", "getmetatable", "ipairs", "next", "pairs", "pcall",
		"rawequal", "rawget", "rawset", "select", "setmetatable", "tonumber", "tostring",
		"type", "unpack", "xpcall",
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

local function pick(from, names)
	local t = {}
	for _, name in ipairs(names) do
		t[name] = from[name]
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
	local mt = getmetatable("")
	mt.__index = pick(G.string, _M.allowed.string)
	mt.__metatable = false
end

-- A new environment for one handler file: the allowed globals, its own
-- copies of the allowed libraries, and its own shallow copy of each table
-- in extra (e.g. { json = json }). Globals the handler sets stay in it.
function _M.new_env(extra)
	local env = {}
	for name, names in pairs(_M.allowed) do
		if name == "globals" then
			for _, g in ipairs(names) do
				env[g] = G[g]
			end
		else
			env[name] = pick(G[name], names)
		end
	end
	for name, v in pairs(extra or {}) do
		env[name] = type(v) == "table" and copy(v) or v
	end
	env._G = env
	return env
end

return _M
