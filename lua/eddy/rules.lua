-- eddy.rules: alert rules (the rules folder's *.yaml files) as units of the
-- handler host. The host parses a rule file with libyaml into a tree that
-- keeps every scalar's place (see compile_file); this module checks the
-- rules, compiles their conditions and templates with eddy.rule_expr, and
-- returns the unit's subscription and the on_event function the host calls
-- like a handler's, under the same CPU and memory limits.
--
-- What a rule remembers (the data its key had when the rule last saw it,
-- for `before` and kind change) is kept in the store namespace NS, key
-- "<rule name>/<event key>", written through ctx in the batch's
-- transaction: a replay or a restart neither forgets nor doubles it.

local error, ipairs, load, pairs, pcall, type = error, ipairs, load, pairs, pcall, type
local math_huge, os_time = math.huge, os.time
local string_find, string_format, string_gsub, string_sub =
	string.find, string.format, string.gsub, string.sub
local table_concat, table_sort = table.concat, table.sort

local rule_expr = require "eddy.rule_expr"
local json = require "eddy.json"

local _M = {}

-- The store namespace of rule state (valid for the store, and not one a
-- handler is likely to pick: handlers should leave it alone).
_M.NS = "_eddy_rules"

-- The kinds built, and the keys each rule may have.
_M.KINDS = { any = true, change = true }
local RULE_KEYS = { name = true, kind = true, when = true, compare = true, severity = true,
	summary = true, description = true, labels = true, annotations = true, sink = true,
	realert = true }
local WHEN_KEYS = { types = true, ["if"] = true }
local SEVERITIES = { critical = true, warning = true, info = true }

-- Rule names: they name alerts (Alertmanager's alertname) and state keys.
local NAME_PATTERN = "^[%w_][%w_.%-]*$"
local NAME_MAX = 128

-- Names of the rules loaded so far into this state (the whole folder):
-- a name is used once. reset() starts a new set.
local names = {}

function _M.reset()
	names = {}
end

---------------------------------------------------------------------------
-- The tree the host hands over. Every node has line and col (1-based, of
-- where it starts in the file) and t: "map" (pairs = { { k = node, v =
-- node }, ... } in file order), "seq" (items = { node, ... }) or "str"
-- (s = the text; style = "plain" | "single" | "double" | "literal" |
-- "folded"; cline, ccol: where the text itself starts (after a quote, or
-- the first line of a block scalar); indent: a block scalar's
-- indentation).

local function fail(path, node, key, msg)
	error(string_format("%s:%d:%d: %s: %s", path, node.line, node.col, key, msg), 0)
end

local function str(path, node, key)
	if node.t ~= "str" then
		fail(path, node, key, "must be text, got a " .. (node.t == "map" and "mapping" or "list"))
	end
	return node.s
end

-- A mapping's pairs by key, checking the keys against allowed.
local function members(path, node, key, allowed, what)
	if node.t ~= "map" then
		fail(path, node, key, "must be a mapping")
	end
	local out, keys = {}, {}
	for _, p in ipairs(node.pairs) do
		local k = str(path, p.k, key)
		if out[k] then
			fail(path, p.k, k, "given twice")
		end
		if allowed and not allowed[k] then
			local list = {}
			for name in pairs(allowed) do
				list[#list + 1] = name
			end
			table_sort(list)
			fail(path, p.k, k, "unknown key of " .. what .. " (" .. table_concat(list, ", ") .. ")")
		end
		out[k] = p.v
		keys[k] = p.k
	end
	return out, keys
end

-- Where, in the file, the character at (line, column) of a scalar's text
-- is: exact for one-line scalars and literal blocks; the scalar's first
-- line otherwise.
local function place(node, line, column)
	if line > 1 and node.style == "literal" then
		return node.cline + line - 1, node.indent + column
	end
	if line > 1 then
		return node.cline, node.ccol
	end
	return node.cline, node.ccol + column - 1
end

-- Compiles the scalar node (what: "compile" for a condition, "template")
-- into a function of (E, H); raises "path:line:col: key: message".
local function compile(path, node, key, what, opts)
	local src = str(path, node, key)
	local code, paths, at = rule_expr[what](src, { check_regex = opts.check_regex })
	if not code then
		local line, col = place(node, at.line, at.column)
		local msg = string_gsub(paths, "^%d+:%d+: ", "")
		msg = string_gsub(msg, "^%d+: ", "")
		error(string_format("%s:%d:%d: %s: %s", path, line, col, key, msg), 0)
	end
	local fn = load(code, "=" .. path .. ": " .. key, "t", {})
	return fn, paths
end

-- Compiles the scalar node as an expression whose value is wanted (not
-- whether it holds): a function of (E, H) returning it.
local function value_of(path, node, key, opts)
	return compile(path, node, key, "value", opts)
end

-- realert: a duration of the language ("1h", "90m", "1h30m") or a number
-- of seconds; any constant expression that gives a positive number.
local function duration(path, node, key, opts)
	local fn = value_of(path, node, key, opts)
	local ok, v = pcall(fn, {}, rule_expr.new_helpers { regex_match = function() return false end })
	if not ok or type(v) ~= "number" or v <= 0 or v ~= v or v == math_huge then
		fail(path, node, key, "must be a duration such as 10m, 1h or 1d")
	end
	return v
end

local function glob_pattern(g)
	local escaped = string_gsub(g, "[%^%$%(%)%%%.%[%]%+%-%?]", "%%%0")
	return "^" .. string_gsub(escaped, "%*", ".*") .. "$"
end

-- A string or a list of strings.
local function string_list(path, node, key)
	if node.t == "str" then
		return { node.s }
	end
	if node.t ~= "seq" or #node.items == 0 then
		fail(path, node, key, "must be a string or a non-empty list of strings")
	end
	local out = {}
	for _, item in ipairs(node.items) do
		out[#out + 1] = str(path, item, key)
	end
	return out
end

-- A mapping of names to templates: labels, annotations.
local function templates(path, node, key, opts)
	local m = members(path, node, key)
	local list = {}
	for name, v in pairs(m) do
		local fn, paths = compile(path, v, key .. "." .. name, "template", opts)
		list[#list + 1] = { name = name, fn = fn, paths = paths, node = v }
	end
	table_sort(list, function(a, b) return a.name < b.name end)
	return list
end

local function reads_before(paths)
	for _, p in ipairs(paths or {}) do
		if p == "before" or string_sub(p, 1, 7) == "before." or string_sub(p, 1, 7) == "before[" then
			return true
		end
	end
	return false
end

-- Label templates that read values which change with every event make
-- every alert a new one: the id and time attributes, and the paths the
-- rule's own condition compares with < <= > >=.
local function label_warnings(path, rule, cond_src, warnings)
	local varying = { id = "changes with every event", time = "changes with every event" }
	if cond_src then
		for _, p in ipairs(rule_expr.ordered_paths(cond_src) or {}) do
			varying[p] = "is compared with < or > by the rule's condition"
		end
	end
	for _, l in ipairs(rule.labels) do
		for _, p in ipairs(l.paths) do
			if varying[p] then
				warnings[#warnings + 1] = string_format(
					"%s:%d:%d: labels.%s: reads %s, which %s: each value makes a new alert " ..
					"(labels say what an alert is about; put it in summary or annotations)",
					path, l.node.line, l.node.col, l.name, p, varying[p])
			end
		end
	end
end

-- One rule of the file (a mapping node).
local function compile_rule(path, node, opts, warnings)
	local m, keys = members(path, node, "rule", RULE_KEYS, "a rule")
	if not m.name then
		fail(path, node, "name", "required")
	end
	local r = { name = str(path, m.name, "name") }
	if not string_find(r.name, NAME_PATTERN) or #r.name > NAME_MAX then
		fail(path, m.name, "name", "must be letters, digits, _ . and - (at most " .. NAME_MAX ..
			")")
	end
	if names[r.name] then
		fail(path, m.name, "name", "\"" .. r.name .. "\" is already the name of a rule in " ..
			names[r.name])
	end
	names[r.name] = string_format("%s:%d", path, m.name.line)
	r.kind = m.kind and str(path, m.kind, "kind") or "any"
	if not _M.KINDS[r.kind] then
		local list = {}
		for k in pairs(_M.KINDS) do
			list[#list + 1] = k
		end
		table_sort(list)
		fail(path, m.kind, "kind", "unknown kind \"" .. r.kind .. "\" (" .. table_concat(list, ", ") ..
			")")
	end
	if not m.when then
		fail(path, node, "when", "required (when: { types: [...], if: ... })")
	end
	local when = members(path, m.when, "when", WHEN_KEYS, "when")
	if when.types then
		r.types = string_list(path, when.types, "types")
		r.patterns = {}
		for i, g in ipairs(r.types) do
			r.patterns[i] = glob_pattern(g)
		end
	end
	local cond_src
	if when["if"] then
		cond_src = str(path, when["if"], "if")
		r.cond, r.cond_paths = compile(path, when["if"], "if", "compile", opts)
	end
	if r.kind == "change" then
		if not m.compare then
			fail(path, node, "compare", "required by kind change (the value whose change fires, " ..
				"e.g. data.status)")
		end
		r.compare = value_of(path, m.compare, "compare", opts)
	elseif m.compare then
		fail(path, keys.compare, "compare", "only kind change has compare")
	end
	r.severity = m.severity and str(path, m.severity, "severity") or "warning"
	if not SEVERITIES[r.severity] then
		fail(path, m.severity, "severity", "must be critical, warning or info")
	end
	if m.sink then
		r.sink = str(path, m.sink, "sink")
		if not opts.sinks[r.sink] then
			fail(path, m.sink, "sink", "\"" .. r.sink .. "\" is not in alerts.sinks")
		end
	end
	local paths = {}
	local function add(list)
		for _, p in ipairs(list or {}) do
			paths[#paths + 1] = p
		end
	end
	add(r.cond_paths)
	if m.summary then
		r.summary, r.summary_paths = compile(path, m.summary, "summary", "template", opts)
		add(r.summary_paths)
	end
	if m.description then
		r.description, r.description_paths = compile(path, m.description, "description",
			"template", opts)
		add(r.description_paths)
	end
	r.labels = m.labels and templates(path, m.labels, "labels", opts) or {}
	r.annotations = m.annotations and templates(path, m.annotations, "annotations", opts) or {}
	for _, l in ipairs(r.labels) do
		add(l.paths)
	end
	for _, a in ipairs(r.annotations) do
		add(a.paths)
	end
	if m.realert then
		r.realert = duration(path, m.realert, "realert", opts)
	end
	r.keeps_state = r.kind == "change" or reads_before(paths)
	label_warnings(path, r, cond_src, warnings)
	return r
end

---------------------------------------------------------------------------
-- Evaluation.

local function type_matches(r, t)
	if not r.patterns then
		return true
	end
	if type(t) ~= "string" then
		return false
	end
	for _, p in ipairs(r.patterns) do
		if string_find(t, p) then
			return true
		end
	end
	return false
end

local function render_map(list, E, H)
	local out = {}
	for _, t in ipairs(list) do
		out[t.name] = t.fn(E, H)
	end
	return out
end

-- JSON text of a map of strings, members sorted: the same labels give the
-- same text, which names the alert for the outbox's dedupe.
local function sorted_json(map)
	local keys = {}
	for k in pairs(map) do
		keys[#keys + 1] = k
	end
	table_sort(keys)
	local out = {}
	for i, k in ipairs(keys) do
		out[i] = json.encode(k) .. ":" .. json.encode(map[k])
	end
	return "{" .. table_concat(out, ",") .. "}"
end

-- The alert of rule r for the event view E: rendered, then handed to the
-- host's alert(sink, severity, key, summary, description, labels,
-- annotations, dedupe, window_ms).
local function raise(u, r, E, H)
	local labels = render_map(r.labels, E, H)
	if labels.alertname == nil then
		labels.alertname = r.name
	end
	local labels_json = sorted_json(labels)
	local summary = r.summary and r.summary(E, H) or r.name
	if summary == "" then
		summary = r.name
	end
	u.alert(r.sink, r.severity, E.key, summary, r.description and r.description(E, H) or nil,
		labels_json, sorted_json(render_map(r.annotations, E, H)),
		"rule/" .. r.name .. "/" .. labels_json, r.realert and r.realert * 1000 or 0)
end

-- The view of the event a condition reads (E in rule_expr): the ev table
-- itself with before set.
local function evaluate(u, r, ev, ctx, H)
	local key = ev.key
	local skey = key and (r.name .. "/" .. key)
	if ev.deleted then
		-- the entity is gone: so is what the rule remembered of it
		if r.keeps_state and skey then
			ctx.delete(_M.NS, skey)
		end
		return
	end
	if not type_matches(r, ev.type) then
		return
	end
	local state = r.keeps_state and skey and ctx.get(_M.NS, skey) or nil
	local before = state and state.data
	if before == json.null then
		before = nil
	end
	ev.before = before
	local fire = true
	if r.cond then
		fire = r.cond(ev, H)
	end
	if fire and r.kind == "change" then
		if not state then
			fire = false
		else
			local now = r.compare(ev, H)
			local was = r.compare({ data = before, id = ev.id, source = ev.source,
				type = ev.type, subject = ev.subject, time = ev.time, tenant = ev.tenant,
				key = ev.key }, H)
			fire = not H.eq(now, was)
		end
	end
	if fire then
		raise(u, r, ev, H)
	end
	if r.keeps_state and skey then
		ctx.upsert(_M.NS, skey, { data = ev.data == nil and json.null or ev.data })
	end
end

---------------------------------------------------------------------------
-- The unit.

-- compile_file(path, tree, opts) -> unit, warnings. tree: the file's
-- document (nil for an empty file). opts: sinks (name -> true),
-- check_regex(pattern) -> true | nil, msg; regex_match(subject, pattern)
-- -> boolean; alert (the host's, see raise). Raises
-- "path:line:col: key: message" when a rule is wrong. The unit: types (the
-- union of the rules' when.types; nil: every type), on_event(ev, ctx,
-- now) (now: seconds since the epoch; nil: the event's time), n (its
-- rules).
function _M.compile_file(path, tree, opts)
	local rules, warnings = {}, {}
	if tree and not (tree.t == "str" and (tree.s == "" or tree.s == "~" or tree.s == "null")) then
		if tree.t ~= "seq" then
			fail(path, tree, "rules", "a rule file is a list of rules (- name: ...)")
		end
		for _, node in ipairs(tree.items) do
			rules[#rules + 1] = compile_rule(path, node, opts, warnings)
		end
	end
	local H = rule_expr.new_helpers { regex_match = opts.regex_match, array_mt = json.array_mt }
	local types, all = {}, #rules == 0
	for _, r in ipairs(rules) do
		if not r.types then
			all = true
		end
		for _, t in ipairs(r.types or {}) do
			types[#types + 1] = t
		end
	end
	local u = { alert = opts.alert, n = #rules }
	if not all then
		u.types = types
	elseif #rules == 0 then
		-- nothing to run: a pattern no type matches keeps events away
		u.types = { "" }
	end
	u.on_event = function(ev, ctx, now)
		-- nil: the event's time (eddy rule test), else the clock's
		H.now = now or (type(ev.time) == "string" and rule_expr.epoch(ev.time)) or os_time()
		for _, r in ipairs(rules) do
			evaluate(u, r, ev, ctx, H)
		end
	end
	return u, warnings
end

return _M
