-- eddy.testing: the handler test kit, for busted specs run by `eddy test`.
--
-- A handler under test runs on eddy's own pipeline, in this process: the
-- same config loading, envelope checks, schemas, sandbox, `ev`, `ctx` and
-- `json` as `eddy run`, with a SQLite store of its own in a temporary
-- folder. Events go in as tables (encoded as structured CloudEvents) or
-- fixture files; what the handlers did comes back as tables.
--
--   local testing = require "eddy.testing"
--   local h = assert(testing.handler("handlers/orders.lua", {
--     store = { orders = { ["ORD-1"] = { quantity = 5 } } },
--     event = { type = "com.example.order.v1" },
--   }))
--   local r = h:send{ key = "ORD-1", data = { quantity = 7 } }
--   assert.are.same({ quantity = 7 }, r.upserts[1].value)
--   assert.are.same({ quantity = 7 }, h:get("orders", "ORD-1"))
--
-- docs/handlers.md ("Testing handlers") is the reference.

local core = require "eddy.testing.core"
local json = require "eddy.json"

local error, ipairs, pairs, pcall, setmetatable, tostring, type =
	error, ipairs, pairs, pcall, setmetatable, tostring, type

local _M = {}

local function decode(text)
	return core.decode(text, json.array_mt)
end

-- json as handlers have it: the same encode, and the host's decoder (every
-- array marked, null as json.null).
_M.json = {}
for k, v in pairs(json) do
	_M.json[k] = v
end
_M.json.decode = decode

-- The CloudEvent attributes an event table may give, beside data.
local ATTRIBUTES = { "id", "source", "type", "time", "subject", "dataschema", "datacontenttype" }

local DEFAULTS = {
	source = "urn:eddy:test",
	time = "2025-01-01T00:00:00Z",
	tenant = "test-tenant",
}

-- The record of event table ev (defaults filled in from d, then DEFAULTS):
-- { topic, partition, offset, key, value, headers } as core.send takes it.
local function record(ev, d, offset)
	local function get(name)
		local v = ev[name]
		if v == nil then
			v = d[name]
		end
		return v
	end
	local tenant = get("tenant") or DEFAULTS.tenant
	local rec = {
		topic = get("topic") or (tenant .. ".events"),
		partition = get("partition") or 0,
		offset = ev.offset or offset,
		headers = get("headers"),
	}
	local id = get("id") or ev.key
	rec.key = ev.key or id
	if ev.value ~= nil then
		-- the record's value as given: invalid envelopes, binary mode
		if type(ev.value) ~= "string" then
			error("send: value must be a string (the record's value), got " .. type(ev.value), 3)
		end
		rec.value = ev.value
		return rec
	end
	if ev.deleted then
		if rec.key == nil then
			error("send: a tombstone (deleted = true) needs a key", 3)
		end
		return rec
	end
	if get("type") == nil then
		error("send: type is required (or value, or deleted = true)", 3)
	end
	local ce = { specversion = "1.0" }
	for _, name in ipairs(ATTRIBUTES) do
		ce[name] = get(name)
	end
	ce.id = id or ("test-" .. tostring(rec.offset))
	ce.source = ce.source or DEFAULTS.source
	ce.time = ce.time or DEFAULTS.time
	local meta = {}
	for k, v in pairs(get("meta") or {}) do
		meta[k] = v
	end
	meta.tenant = meta.tenant or tenant
	meta.correlation_id = meta.correlation_id or get("correlation_id")
	ce.meta = meta
	for k, v in pairs(get("extensions") or {}) do
		ce[k] = v
	end
	ce.data = ev.data
	rec.value = json.encode(ce)
	return rec
end

-- What one record did, from core's raw result: actions by kind, with
-- values decoded.
local function shape(raw)
	local r = {
		outcome = raw.outcome,
		upserts = {},
		deletes = {},
		alerts = {},
		publishes = {},
		logs = {},
		dead_letter = raw.dead_letter,
		dead_letters = { raw.dead_letter },
		line = raw.line,
	}
	local outboxed = 0
	for _, a in ipairs(raw.actions) do
		local kind = a.kind
		if kind == "upsert" then
			r.upserts[#r.upserts + 1] = { ns = a.target, key = a.key, value = decode(a.value), json = a.value }
		elseif kind == "delete" then
			r.deletes[#r.deletes + 1] = { ns = a.target, key = a.key }
		elseif kind == "alert" then
			local alert = { sink = a.target, severity = a.severity, summary = a.summary, repeated = a.repeated }
			-- with alerts.sinks, each new alert is in the outbox: its whole body
			if a.target and not a.repeated then
				outboxed = outboxed + 1
				local body = raw.alerts[outboxed]
				if body then
					for k, v in pairs(decode(body)) do
						alert[k] = v
					end
				end
			end
			r.alerts[#r.alerts + 1] = alert
		elseif kind == "publish" then
			local p = { topic = a.target, key = a.key, json = a.value, deleted = a.value == nil }
			if a.value then
				local ok, v = pcall(decode, a.value)
				if ok and type(v) == "table" and v.specversion then
					p.event, p.type, p.data = v, v.type, v.data
				elseif ok then
					p.data = v -- binary mode: the value is the data
				end
			end
			r.publishes[#r.publishes + 1] = p
		elseif kind == "log" then
			r.logs[#r.logs + 1] = {
				handler = a.target,
				level = a.severity,
				msg = a.summary,
				fields = a.value and decode(a.value) or nil,
			}
		end
	end
	return r
end

local Handler = {}
Handler.__index = Handler

-- h:send(ev) -> result: one event through the pipeline, in a batch of its
-- own.
function Handler:send(ev)
	if type(ev) ~= "table" then
		error("send: expected an event table, got " .. type(ev), 2)
	end
	local rec = record(ev, self.defaults, self.offset)
	self.offset = self.offset + 1
	return shape(self.kit:send(rec))
end

-- h:replay(path [, topic]) -> result of every record of the file: NDJSON of
-- CloudEvents or KEY<TAB>VALUE lines, as `eddy replay` reads them (topic:
-- the file's name without extension). The lists hold the actions of all
-- records in order, each dead letter with its line; records holds each
-- record's own result.
function Handler:replay(path, topic)
	if type(path) ~= "string" then
		error("replay: expected a file name, got " .. type(path), 2)
	end
	topic = topic or path:match("([^/]+)$"):gsub("(.)%.[^.]*$", "%1")
	local all = { records = {}, upserts = {}, deletes = {}, alerts = {}, publishes = {}, logs = {}, dead_letters = {} }
	for i, raw in ipairs(self.kit:replay(path, topic)) do
		local r = shape(raw)
		all.records[i] = r
		for _, list in ipairs({ "upserts", "deletes", "alerts", "publishes", "logs" }) do
			for _, x in ipairs(r[list]) do
				all[list][#all[list] + 1] = x
			end
		end
		if r.dead_letter then
			r.dead_letter.line = r.line
			all.dead_letters[#all.dead_letters + 1] = r.dead_letter
		end
	end
	return all
end

-- h:get(ns, key) -> the stored value (as ctx.get returns it) or nil.
function Handler:get(ns, key)
	local text, err = self.kit:get(ns, key)
	if err then
		error(err, 2)
	end
	return text and decode(text)
end

-- h:put(ns, key, value): stores value as a handler's ctx.upsert would.
function Handler:put(ns, key, value)
	local ok, err = self.kit:put(ns, key, json.encode(value))
	if not ok then
		error(err, 2)
	end
end

-- h:close(): removes the store and the temporary folder (garbage collection
-- does it too).
function Handler:close()
	self.kit:close()
end

-- testing.handler(path [, opts]) -> h, or nil and the error when the
-- handlers do not load ("handlers/x.lua:3: ..."). path: a handler file (its
-- folder's lib/ is there for require) or a folder of them. opts:
--   config  eddy.yaml as a table, or the name of a YAML file
--   store   { ns = { key = value } } stored before the first event
--   event   fields every sent event starts from (type, topic, tenant, ...)
function _M.handler(path, opts)
	if type(path) ~= "string" then
		error("testing.handler: expected a handler file or folder, got " .. type(path), 2)
	end
	opts = opts or {}
	local yaml, file
	if type(opts.config) == "table" then
		yaml = json.encode(opts.config) -- JSON is YAML
	elseif type(opts.config) == "string" then
		file = opts.config
	elseif opts.config ~= nil then
		error("testing.handler: config must be a table or a file name", 2)
	end
	local kit, err = core.new(path, yaml, file)
	if not kit then
		return nil, err
	end
	local h = setmetatable({ kit = kit, defaults = opts.event or {}, offset = 0 }, Handler)
	for ns, rows in pairs(opts.store or {}) do
		for key, value in pairs(rows) do
			h:put(ns, key, value)
		end
	end
	return h
end

return _M
