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
--
-- The time-based rules (kinds frequency and flatline, and for:) keep a
-- state per group in NS too, key "<rule name>#g/<group>", and timers that
-- say when a group must be looked at without an event: "<rule name>#t"
-- (the cursor: the next bucket and the buckets in use) and "<rule
-- name>#t/<bucket>" (the groups due in that BUCKET seconds). A timer is a
-- hint: on_tick reads the group, works out when it is really due and
-- moves it there, so events that only push a group's time later write no
-- timer. "<rule name>#n" counts the groups (max_groups). '#' is in no rule
-- name, so these keys meet no `before` key.

local error, ipairs, load, next, pairs, pcall, setmetatable, type =
	error, ipairs, load, next, pairs, pcall, setmetatable, type
local math_floor, math_huge, os_time = math.floor, math.huge, os.time
local string_find, string_format, string_gsub, string_sub =
	string.find, string.format, string.gsub, string.sub
local table_concat, table_insert, table_remove, table_sort =
	table.concat, table.insert, table.remove, table.sort

local rule_expr = require "eddy.rule_expr"
local json = require "eddy.json"

local _M = {}

-- The store namespace of rule state (valid for the store, and not one a
-- handler is likely to pick: handlers should leave it alone).
_M.NS = "_eddy_rules"

-- The kinds built, and the keys each rule may have.
_M.KINDS = { any = true, change = true, frequency = true, flatline = true }
local RULE_KEYS = { name = true, kind = true, when = true, compare = true, severity = true,
	summary = true, description = true, labels = true, annotations = true, sink = true,
	realert = true, window = true, threshold = true, group_by = true, ["for"] = true,
	max_groups = true }

-- The caps of a time-based rule (docs/rules.md): events kept per group
-- (a threshold above it is refused), groups per rule (max_groups: its
-- default and its highest value), groups a tick looks at per rule (the
-- rest wait for the next tick), timer buckets a tick walks per rule.
_M.MAX_THRESHOLD = 10000
_M.MAX_GROUPS = 10000
_M.MAX_GROUPS_LIMIT = 1000000
_M.TICK_GROUPS = 1000
_M.TICK_BUCKETS = 360
-- Seconds of one timer bucket; a flatline group silent this long is
-- forgotten (its alert is not resolved).
local BUCKET = 10
_M.FORGET = 7 * 86400
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

-- threshold, max_groups: a constant whole number from lo to hi.
local function whole(path, node, key, opts, lo, hi)
	local fn = value_of(path, node, key, opts)
	local ok, v = pcall(fn, {}, rule_expr.new_helpers { regex_match = function() return false end })
	if not ok or type(v) ~= "number" or v ~= math_floor(v) or v < lo or v > hi then
		fail(path, node, key, string_format("must be a whole number from %d to %d", lo, hi))
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
	if r.kind == "frequency" or r.kind == "flatline" then
		if not m.window then
			fail(path, node, "window", "required by kind " .. r.kind ..
				" (the time events are counted over, e.g. 10m)")
		end
		r.window = duration(path, m.window, "window", opts)
		if m.threshold then
			r.threshold = whole(path, m.threshold, "threshold", opts, 1, _M.MAX_THRESHOLD)
		elseif r.kind == "frequency" then
			fail(path, node, "threshold", "required by kind frequency (how many events " ..
				"within window fire it)")
		else
			r.threshold = 1
		end
	else
		for _, k in ipairs({ "window", "threshold" }) do
			if m[k] then
				fail(path, keys[k], k, "only kinds frequency and flatline have " .. k)
			end
		end
	end
	if m["for"] then
		if r.kind ~= "any" then
			fail(path, keys["for"], "for", "only kind any has for (kind " .. r.kind .. ")")
		end
		r.for_ = duration(path, m["for"], "for", opts)
	end
	r.timed = r.kind == "frequency" or r.kind == "flatline" or r.for_ ~= nil
	if m.group_by then
		if not r.timed then
			fail(path, keys.group_by, "group_by", "only time-based rules (frequency, " ..
				"flatline, for) have group_by")
		end
		r.group_by = {}
		local list = m.group_by.t == "seq" and m.group_by.items or { m.group_by }
		if #list == 0 then
			fail(path, m.group_by, "group_by", "must be an expression or a non-empty list")
		end
		for i, item in ipairs(list) do
			r.group_by[i] = value_of(path, item, "group_by", opts)
		end
	end
	if m.max_groups then
		if not r.timed then
			fail(path, keys.max_groups, "max_groups", "only time-based rules have max_groups")
		end
		r.max_groups = whole(path, m.max_groups, "max_groups", opts, 1, _M.MAX_GROUPS_LIMIT)
	else
		r.max_groups = _M.MAX_GROUPS
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

-- The alert of rule r for the event view E, rendered: labels (JSON text,
-- sorted: the same labels give the same text, which names the alert),
-- summary, description, annotations (JSON text), key.
local function render(r, E, H)
	local labels = render_map(r.labels, E, H)
	if labels.alertname == nil then
		labels.alertname = r.name
	end
	local summary = r.summary and r.summary(E, H) or r.name
	if summary == "" then
		summary = r.name
	end
	return { labels = sorted_json(labels), summary = summary,
		description = r.description and r.description(E, H) or nil,
		annotations = sorted_json(render_map(r.annotations, E, H)), key = E.key }
end

-- Hands the rendered alert a to the host's alert(sink, severity, key,
-- summary, description, labels, annotations, dedupe, window_ms, rule,
-- resolved, starts, ends).
local function send(u, r, a, dedupe, resolved, starts, ends)
	u.alert(r.sink, r.severity, a.key, a.summary, a.description, a.labels, a.annotations,
		dedupe, r.realert and r.realert * 1000 or 0, r.name, resolved or false, starts, ends)
end

local function raise(u, r, E, H)
	local a = render(r, E, H)
	send(u, r, a, "rule/" .. r.name .. "/" .. a.labels)
end

---------------------------------------------------------------------------
-- Time-based rules: groups, their state and timers.

local function group_key(r, group)
	return r.name .. "#g/" .. group
end

-- What a tick renders a group's alert from: the event view of its last
-- event (before is not kept).
local function view(ev)
	return { data = ev.data == nil and json.null or ev.data, id = ev.id, source = ev.source,
		type = ev.type, subject = ev.subject, time = ev.time, tenant = ev.tenant, key = ev.key }
end

-- The group of the event view E: the values of group_by as a JSON list;
-- else the rendered labels (frequency, flatline) or the record key (for).
local function group_of(r, E, H)
	if r.group_by then
		local vals = {}
		for i, fn in ipairs(r.group_by) do
			local v = fn(E, H)
			vals[i] = v == nil and json.null or v
		end
		return json.encode(setmetatable(vals, json.array_mt))
	end
	if r.kind == "any" then
		return E.key
	end
	return sorted_json(render_map(r.labels, E, H))
end

-- The kth newest event time of st (nil: fewer than k kept).
local function kth(r, st)
	local e = st.e
	local i = #e - r.threshold + 1
	return i >= 1 and e[i][1] or nil
end

local function newest(st)
	return st.e[#st.e] and st.e[#st.e][1]
end

-- Events of st within window of now, whether at least threshold.
local function enough(r, st, now)
	local t = kth(r, st)
	return t ~= nil and t > now - r.window
end

-- When the group must be looked at without an event (nil: never).
local function due_of(u, r, st)
	local due
	if st.firing then
		due = st.sent + (r.realert or u.realert_default) -- sent again while it holds
	end
	local function sooner(t)
		if t and (not due or t < due) then
			due = t
		end
	end
	if r.kind == "frequency" then
		if st.firing then
			sooner(kth(r, st) + r.window) -- then it stops holding
		else
			sooner(newest(st) + r.window) -- then the group is empty: forgotten
		end
	elseif r.kind == "flatline" then
		if not st.firing then
			local t = kth(r, st)
			local from = st.first + r.window
			sooner(t and t + r.window > from and t + r.window or from)
		end
		sooner(newest(st) + _M.FORGET)
	elseif not st.firing then -- for
		sooner(st.since + r.for_)
	end
	return due
end

-- Registers group in the timer bucket of due (not before the cursor's);
-- returns the bucket.
local function timer_add(ctx, r, group, due)
	local ck = r.name .. "#t"
	local b = math_floor(due / BUCKET)
	local cur = ctx.get(_M.NS, ck)
	if not cur then
		cur = { next = b, b = setmetatable({}, json.array_mt) }
	end
	if b < cur.next then
		b = cur.next
	end
	local bk = ck .. "/" .. b
	local bucket = ctx.get(_M.NS, bk)
	if not bucket then
		bucket = { g = {} }
		local list, at = cur.b, #cur.b + 1
		for i, x in ipairs(list) do
			if x > b then
				at = i
				break
			end
		end
		table_insert(list, at, b)
		ctx.upsert(_M.NS, ck, cur)
	elseif bucket.g[group] then
		return b
	end
	bucket.g[group] = true
	ctx.upsert(_M.NS, bk, bucket)
	return b
end

-- Writes st back, with a timer when it needs one sooner than the one it
-- has (a later one is found by the tick and moved).
local function save(u, ctx, r, group, st)
	local due = due_of(u, r, st)
	if due and (not st.t or math_floor(due / BUCKET) < st.t) then
		st.t = timer_add(ctx, r, group, due)
	end
	ctx.upsert(_M.NS, group_key(r, group), st)
end

-- A new group, unless the rule has max_groups already (then the event is
-- not counted, and a warning logged at most once a minute).
local function new_group(u, ctx, r)
	local nk = r.name .. "#n"
	local c = ctx.get(_M.NS, nk) or { n = 0 }
	if c.n >= r.max_groups then
		local last = u.warned[r.name]
		if not last or os_time() - last >= 60 then
			u.warned[r.name] = os_time()
			ctx.log("warn", string_format("rule %s: max_groups (%d) reached: events of new " ..
				"groups are not counted", r.name, r.max_groups))
		end
		return false
	end
	c.n = c.n + 1
	ctx.upsert(_M.NS, nk, c)
	return true
end

local function drop_group(ctx, r, group)
	local nk = r.name .. "#n"
	local c = ctx.get(_M.NS, nk)
	if c and c.n > 0 then
		c.n = c.n - 1
		ctx.upsert(_M.NS, nk, c)
	end
	ctx.delete(_M.NS, group_key(r, group))
end

-- Milliseconds as dedupe text: the same transition gives the same key
-- when its events are handled again.
local function ms(t)
	return string_format("%.0f", t * 1000)
end

local function dedupe_of(r, st, at)
	return "rule/" .. r.name .. "/" .. st.a.labels .. "@" .. ms(at)
end

local function fire(u, r, st, group, E, H, at)
	st.a = render(r, E, H)
	if r.group_by or r.kind ~= "any" then
		st.a.key = group
	end
	st.firing, st.fired, st.sent = true, at, at
	send(u, r, st.a, dedupe_of(r, st, at), false, at)
end

local function resend(u, r, st, at)
	st.sent = at
	send(u, r, st.a, dedupe_of(r, st, at), false, st.fired)
end

local function resolve(u, r, st, at)
	send(u, r, st.a, dedupe_of(r, st, st.fired) .. "/resolved", true, st.fired, at)
	st.firing, st.fired, st.sent, st.a = nil, nil, nil, nil
end

-- Adds the event (time t, id) to the newest threshold events kept; an id
-- kept already is not added again (a replay counts nothing twice).
local function count_event(r, st, t, id)
	for _, x in ipairs(st.e) do
		if x[2] == id then
			return
		end
	end
	local e, at = st.e, #st.e + 1
	while at > 1 and e[at - 1][1] > t do
		at = at - 1
	end
	table_insert(e, at, { t, id })
	while #e > r.threshold do
		table_remove(e, 1)
	end
end

-- An event of a time-based rule: t its time, holds whether the rule's
-- condition held (after types matched).
local function timed_event(u, r, ev, ctx, H, t, holds)
	local group = group_of(r, ev, H)
	if group == nil then
		return
	end
	local gk = group_key(r, group)
	local st = ctx.get(_M.NS, gk)
	if r.for_ then
		if not holds then
			if st then
				if st.firing then
					resolve(u, r, st, t)
				end
				drop_group(ctx, r, group)
			end
			return
		end
		if not st then
			if not new_group(u, ctx, r) then
				return
			end
			st = { since = t }
		end
		st.ev = view(ev)
		if not st.firing and t >= st.since + r.for_ then
			fire(u, r, st, group, ev, H, t)
		end
		return save(u, ctx, r, group, st)
	end
	if not holds then
		return -- only the events the condition holds for count
	end
	if not st then
		if not new_group(u, ctx, r) then
			return
		end
		st = { e = setmetatable({}, json.array_mt), first = t }
	end
	count_event(r, st, t, ev.id or "")
	local ref = newest(st) > t and newest(st) or t
	if r.kind == "frequency" then
		if not st.firing and enough(r, st, ref) then
			fire(u, r, st, group, ev, H, t)
		end
	else
		st.ev = view(ev)
		if st.firing and enough(r, st, ref) then
			resolve(u, r, st, t)
		end
	end
	save(u, ctx, r, group, st)
end

-- A group looked at by a tick at now. Returns false when it is gone.
local function tick_group(u, ctx, r, group, st, now, H)
	if r.kind == "frequency" then
		if st.firing and not enough(r, st, now) then
			resolve(u, r, st, now)
		end
		if not st.firing and newest(st) <= now - r.window then
			drop_group(ctx, r, group)
			return false
		end
	elseif r.kind == "flatline" then
		if newest(st) <= now - _M.FORGET then
			drop_group(ctx, r, group)
			return false
		end
		if not st.firing and now >= st.first + r.window and not enough(r, st, now) then
			fire(u, r, st, group, st.ev, H, now)
		end
	elseif not st.firing and now >= st.since + r.for_ then
		fire(u, r, st, group, st.ev, H, now)
	end
	if st.firing and now >= st.sent + (r.realert or u.realert_default) then
		resend(u, r, st, now)
	end
	return true
end

-- The tick of rule r at now: the groups of the timer buckets due.
local function tick_rule(u, r, ctx, now, H)
	local ck = r.name .. "#t"
	local cur = ctx.get(_M.NS, ck)
	if not cur then
		return
	end
	local last = math_floor(now / BUCKET)
	local walked, looked, done = 0, 0, {}
	local list = {}
	for i, b in ipairs(cur.b) do
		list[i] = b
	end
	for _, b in ipairs(list) do
		if b > last or walked >= _M.TICK_BUCKETS then
			break
		end
		walked = walked + 1
		local bk = ck .. "/" .. b
		local bucket = ctx.get(_M.NS, bk)
		local keep = {}
		for group in pairs(bucket and bucket.g or {}) do
			local st = looked < _M.TICK_GROUPS and ctx.get(_M.NS, group_key(r, group))
			if looked >= _M.TICK_GROUPS then
				keep[group] = true -- the next tick's
			elseif st and st.t == b then
				looked = looked + 1
				st.t = nil
				if tick_group(u, ctx, r, group, st, now, H) then
					local due = due_of(u, r, st)
					if due and math_floor(due / BUCKET) <= b then
						keep[group], st.t = true, b
					elseif due then
						st.t = timer_add(ctx, r, group, due)
					end
					ctx.upsert(_M.NS, group_key(r, group), st)
				end
			end
		end
		if next(keep) then
			ctx.upsert(_M.NS, bk, { g = keep })
		else
			ctx.delete(_M.NS, bk)
			done[b] = true
		end
	end
	-- timer_add may have added buckets meanwhile: the cursor as it is now
	cur = ctx.get(_M.NS, ck)
	local left = setmetatable({}, json.array_mt)
	for _, b in ipairs(cur.b) do
		if not done[b] then
			left[#left + 1] = b
		end
	end
	cur.b = left
	if last > cur.next then
		cur.next = last
	end
	ctx.upsert(_M.NS, ck, cur)
end

-- The view of the event a condition reads (E in rule_expr): the ev table
-- itself with before set. t: the event's time.
local function evaluate(u, r, ev, ctx, H, t)
	local key = ev.key
	local skey = key and (r.name .. "/" .. key)
	if ev.deleted then
		-- the entity is gone: so is what the rule remembered of it
		if r.keeps_state and skey then
			ctx.delete(_M.NS, skey)
		end
		if r.for_ and not r.group_by and key then
			timed_event(u, r, ev, ctx, H, t, false)
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
	local fire_now = true
	if r.cond then
		fire_now = r.cond(ev, H)
	end
	if r.timed then
		timed_event(u, r, ev, ctx, H, t, fire_now)
	else
		if fire_now and r.kind == "change" then
			if not state then
				fire_now = false
			else
				local now = r.compare(ev, H)
				local was = r.compare({ data = before, id = ev.id, source = ev.source,
					type = ev.type, subject = ev.subject, time = ev.time, tenant = ev.tenant,
					key = ev.key }, H)
				fire_now = not H.eq(now, was)
			end
		end
		if fire_now then
			raise(u, r, ev, H)
		end
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
-- now, record_ms, event_ticks) (now: seconds since the epoch; nil: the
-- event's time; record_ms: the record's timestamp, the event's time when
-- it has no time attribute; event_ticks: tick the time-based rules at the
-- event's time), on_tick(ctx, now) when some rule is time-based, n (its
-- rules). opts.realert_default: alerts.dedupe_window_s, how often a firing
-- time-based alert is sent again without realert.
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
	local u = { alert = opts.alert, n = #rules, warned = {},
		realert_default = (opts.realert_default or 0) > 0 and opts.realert_default or 86400 }
	local timed = {}
	for _, r in ipairs(rules) do
		if r.timed then
			timed[#timed + 1] = r
		end
	end
	if not all then
		u.types = types
	elseif #rules == 0 then
		-- nothing to run: a pattern no type matches keeps events away
		u.types = { "" }
	end
	local function tick(ctx, now)
		H.now = now
		for _, r in ipairs(timed) do
			tick_rule(u, r, ctx, now, H)
		end
	end
	-- Events tick the rules at their own time (eddy replay, eddy rule
	-- test) unless a clock does (event_ticks false): before an event newer
	-- than any seen, at most once a second of event time.
	local watermark
	u.on_event = function(ev, ctx, now, record_ms, event_ticks)
		-- nil: the event's time (eddy rule test), else the clock's
		local et = type(ev.time) == "string" and rule_expr.epoch(ev.time) or
			(record_ms and record_ms / 1000)
		local t = et or now or os_time()
		if event_ticks and #timed > 0 and et and (not watermark or et >= watermark + 1) then
			watermark = et
			tick(ctx, et)
		end
		H.now = now or t
		for _, r in ipairs(rules) do
			evaluate(u, r, ev, ctx, H, t)
		end
	end
	if #timed > 0 then
		u.on_tick = function(ctx, now)
			if not watermark or now > watermark then
				watermark = now
			end
			tick(ctx, now)
		end
	end
	return u, warnings
end

return _M
