-- Helpers for the end-to-end specs: the eddy binary, a mock Kafka cluster
-- in its own process (eddy-mock), kcat, sqlite3, and event fixtures.
local cjson = require "cjson"

local _M = {}

local root = os.getenv("PWD")
_M.root = root
_M.bin = os.getenv("EDDY_BIN") or (root .. "/build/release/eddy")
_M.mock_bin = os.getenv("EDDY_MOCK") or (root .. "/build/release/eddy-mock")
_M.avro_encode_bin = os.getenv("EDDY_AVRO_ENCODE") or (root .. "/build/release/avro-encode")

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
_M.q = shell_quote

-- Runs cmd in sh; returns exit code, stdout (stderr goes to stdout when
-- merge is true).
function _M.sh(cmd, merge)
  local p = io.popen("(" .. cmd .. ")" .. (merge and " 2>&1" or "") .. "; echo \"__rc=$?\"")
  local out = p:read("*a")
  p:close()
  local body, rc = out:match("^(.*)__rc=(%d+)\n?$")
  return tonumber(rc), body
end

function _M.read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

function _M.write(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

function _M.tmpdir()
  local _, out = _M.sh("mktemp -d /tmp/eddy-spec.XXXXXX")
  return (out:gsub("%s+$", ""))
end

function _M.sleep(s)
  _M.sh("sleep " .. s)
end

-- A mock cluster in its own process. topics: { "name", "name:3" };
-- brokers: how many (default 1).
function _M.start_mock(dir, topics, brokers)
  local args = { "--control " .. shell_quote(dir .. "/mock.control"),
                 "--brokers " .. (brokers or 1) }
  for _, t in ipairs(topics or {}) do args[#args + 1] = "--topic " .. shell_quote(t) end
  local out = dir .. "/mock.out"
  local _, pid = _M.sh(shell_quote(_M.mock_bin) .. " " .. table.concat(args, " ") ..
    " >" .. shell_quote(out) .. " 2>&1 </dev/null & echo $!")
  local m = { pid = tonumber(pid), out = out }
  for _ = 1, 200 do
    local s = _M.read(out) or ""
    m.bootstrap = s:match("bootstrap (%S+)")
    if s:match("ready") then return m end
    _M.sleep(0.05)
  end
  error("eddy-mock did not start: " .. (_M.read(out) or ""))
end

-- The next count produce requests to the mock fail with Kafka error code.
function _M.fail_produce(dir, count, code)
  _M.fault(dir, "produce-errors " .. count .. " " .. code)
end

-- Applies faults to the mock started in dir: lines of its control file
-- (tests/tools/eddy-mock.c: request-errors, broker-down/up, coordinator,
-- leader, produce-errors).
function _M.fault(dir, ...)
  _M.write(dir .. "/mock.control", table.concat({ ... }, "\n") .. "\n")
  for _ = 1, 100 do
    if not _M.read(dir .. "/mock.control") then return end
    _M.sleep(0.05)
  end
  error("eddy-mock did not take the control file")
end

function _M.stop_mock(m)
  if m and m.pid then _M.sh("kill " .. m.pid .. " 2>/dev/null; wait " .. m.pid .. " 2>/dev/null") end
end

-- Produces records (list of { key, value } where value nil is a tombstone)
-- with kcat (kcat_options: more of its options, e.g. "-X batch.num.messages=10").
function _M.produce(m, topic, records, dir, kcat_options)
  local lines = {}
  for _, r in ipairs(records) do
    lines[#lines + 1] = (r[1] or "") .. "\t" .. (r[2] or "")
  end
  local file = dir .. "/produce.kv"
  _M.write(file, table.concat(lines, "\n") .. "\n")
  local rc, out = _M.sh("kcat -P -b " .. m.bootstrap .. " -t " .. shell_quote(topic) ..
    " -K '\t' -Z " .. (kcat_options or "") .. " -l " .. shell_quote(file), true)
  assert(rc == 0, "kcat produce failed: " .. out)
end

-- Produces records whose values may hold any byte (the wire format: NUL,
-- newlines) with kcat, records separated by 0x1e and keys by 0x1f.
-- headers: { "name=value", ... } given to every record.
function _M.produce_raw(m, topic, records, dir, headers)
  local parts = {}
  for _, r in ipairs(records) do
    assert(not (r[1] .. r[2]):find("[\30\31]"), "record holds a separator byte")
    parts[#parts + 1] = r[1] .. "\31" .. r[2]
  end
  local file = dir .. "/produce.bin"
  _M.write(file, table.concat(parts, "\30") .. "\30")
  local h = {}
  for _, kv in ipairs(headers or {}) do h[#h + 1] = "-H " .. shell_quote(kv) end
  local rc, out = _M.sh("kcat -P -b " .. m.bootstrap .. " -t " .. shell_quote(topic) ..
    " -K \"$(printf '\\037')\" -D \"$(printf '\\036')\" " .. table.concat(h, " ") .. " < " .. shell_quote(file), true)
  assert(rc == 0, "kcat produce failed: " .. out)
end

-- Produces JSON values as Avro records of schema id in the wire format
-- (tests/tools/avro-encode), keyed; headers as in produce_raw.
function _M.produce_avro(m, topic, schema_file, id, records, dir, headers)
  local lines = {}
  for _, r in ipairs(records) do lines[#lines + 1] = r[1] .. "\t" .. r[2] end
  _M.write(dir .. "/avro.in", table.concat(lines, "\n") .. "\n")
  local rc, out = _M.sh(shell_quote(_M.avro_encode_bin) .. " -K " .. shell_quote(schema_file) .. " " .. id ..
    " < " .. shell_quote(dir .. "/avro.in") .. " > " .. shell_quote(dir .. "/avro.bin"), true)
  assert(rc == 0, "avro-encode failed: " .. out)
  local h = {}
  for _, kv in ipairs(headers or {}) do h[#h + 1] = "-H " .. shell_quote(kv) end
  rc, out = _M.sh("kcat -P -b " .. m.bootstrap .. " -t " .. shell_quote(topic) ..
    " -K '\t' -D '\\xff~eddy-avro~\\xff' " .. table.concat(h, " ") .. " -l " ..
    shell_quote(dir .. "/avro.bin"), true)
  assert(rc == 0, "kcat produce failed: " .. out)
end

-- The Confluent wire format: magic byte 0, the schema id in 4 bytes big
-- endian, then the payload.
function _M.wire(id, payload)
  return string.char(0, math.floor(id / 16777216) % 256, math.floor(id / 65536) % 256,
    math.floor(id / 256) % 256, id % 256) .. payload
end

-- Waits until fn() is true, up to seconds (default 20); returns whether
-- it was.
function _M.wait_until(fn, seconds)
  for _ = 1, (seconds or 20) * 20 do
    if fn() then return true end
    _M.sleep(0.05)
  end
  return false
end

-- The same, an error naming what (and log(), when given) if it never was.
function _M.wait_for(what, fn, seconds, log)
  if not _M.wait_until(fn, seconds) then
    error("timed out waiting for " .. what .. (log and ("\n" .. log()) or ""))
  end
end

-- Starts tests/tools/webhook-receiver.py (args: its options) logging each
-- delivery as a JSON line to dir/NAME.deliveries. Returns pid, url and
-- deliveries (that file's path).
function _M.start_receiver(dir, name, args)
  local out = dir .. "/" .. name .. ".out"
  local deliveries = dir .. "/" .. name .. ".deliveries"
  local _, pid = _M.sh("python3 tests/tools/webhook-receiver.py " .. (args or "") .. " --log " ..
    shell_quote(deliveries) .. " >" .. shell_quote(out) .. " 2>&1 </dev/null & echo $!")
  for _ = 1, 200 do
    local port = (_M.read(out) or ""):match("^(%d+)\n")
    if port then return { pid = tonumber(pid), url = "http://127.0.0.1:" .. port, deliveries = deliveries } end
    _M.sleep(0.05)
  end
  error("receiver did not start: " .. (_M.read(out) or ""))
end

-- Starts a PostgreSQL server of its own (tests/tools/pg-start): its DSN
-- and folder (for stop_pg).
function _M.start_pg()
  local rc, out = _M.sh("tests/tools/pg-start", true)
  assert(rc == 0, "pg-start failed: " .. out)
  local dsn = out:match("(host=[^\n]*)")
  return dsn, dsn:match("host=(%S+)")
end

function _M.stop_pg(pg_dir)
  if pg_dir then _M.sh("tests/tools/pg-stop " .. shell_quote(pg_dir)) end
end

-- Starts tests/tools/registry-fixture.py serving the schemas file; the
-- handle has url, pid, and control(path) for its /_fixture endpoints.
function _M.start_registry(dir, schemas_file, args)
  local out = dir .. "/registry.out"
  local _, pid = _M.sh("python3 tests/tools/registry-fixture.py --schemas " .. shell_quote(schemas_file) ..
    " --log " .. shell_quote(dir .. "/registry.log") .. " " .. (args or "") ..
    " >" .. shell_quote(out) .. " 2>&1 </dev/null & echo $!")
  for _ = 1, 200 do
    local port = (_M.read(out) or ""):match("^(%d+)\n")
    if port then
      local r = { pid = tonumber(pid), url = "http://127.0.0.1:" .. port }
      r.control = function(path)
        local rc, o = _M.sh("curl -sS -X POST " .. shell_quote(r.url .. "/_fixture/" .. path), true)
        assert(rc == 0, "fixture control failed: " .. o)
        return o
      end
      return r
    end
    _M.sleep(0.05)
  end
  error("registry fixture did not start: " .. (_M.read(out) or ""))
end

-- The registry requests the fixture saw, as lines.
function _M.registry_log(dir)
  local lines = {}
  for l in (_M.read(dir .. "/registry.log") or ""):gmatch("[^\n]+") do lines[#lines + 1] = l end
  return lines
end

-- Reads a whole topic with kcat; returns a list of { key, value, headers }.
function _M.consume(m, topic)
  local rc, out = _M.sh("kcat -C -b " .. m.bootstrap .. " -t " .. shell_quote(topic) ..
    " -o beginning -e -q -J -u", true)
  assert(rc == 0, "kcat consume failed: " .. out)
  local msgs = {}
  for line in out:gmatch("[^\n]+") do
    local ok, j = pcall(cjson.decode, line)
    if ok and type(j) == "table" then
      local h = {}
      local hs = j.headers
      if type(hs) == "table" then
        for i = 1, #hs, 2 do h[hs[i]] = hs[i + 1] end
      end
      msgs[#msgs + 1] = { key = j.key ~= cjson.null and j.key or nil,
                          value = j.payload ~= cjson.null and j.payload or nil,
                          headers = h, partition = j.partition, offset = j.offset }
    end
  end
  return msgs
end

-- Committed offsets of group for topic (partitions: count), as a list
-- indexed by partition + 1.
function _M.committed(m, group, topic, partitions)
  local rc, out = _M.sh(shell_quote(_M.mock_bin) .. " offsets " .. m.bootstrap .. " " ..
    shell_quote(group) .. " " .. shell_quote(topic .. ":" .. (partitions or 1)), true)
  assert(rc == 0, "offsets failed: " .. out)
  local offs = {}
  for p, o in out:gmatch("%S+ (%d+) (%-?%d+)") do offs[tonumber(p) + 1] = tonumber(o) end
  return offs
end

-- Writes a config; opts overrides the defaults below.
function _M.config(dir, m, opts)
  opts = opts or {}
  local lines = {
    "kafka:",
    "  bootstrap.servers: " .. (m and m.bootstrap or "127.0.0.1:1"),
    "  group.id: " .. (opts.group or "spec"),
    "  session.timeout.ms: " .. (opts.session_timeout_ms or 6000),
    "  heartbeat.interval.ms: 500",
    -- opts.offset_reset: the value, or false to leave the key out
    opts.offset_reset ~= false and
      "  auto.offset.reset: " .. (opts.offset_reset or "earliest") or "  # auto.offset.reset unset",
    "topics: [" .. table.concat(opts.topics or { "orders" }, ", ") .. "]",
    "handlers: " .. (opts.handlers or (dir .. "/handlers")),
    "store: { type: sqlite, path: " .. (opts.store or (dir .. "/state.db")) .. " }",
    "dead_letter: { topic: " .. (opts.dlq or "eddy.dlq") .. " }",
    "envelope: { require_key_equals_id: " .. tostring(opts.key_equals_id ~= false) ..
      ", require_tenant: " .. tostring(opts.require_tenant ~= false) .. " }",
    "batch: { size: " .. (opts.batch or 500) .. ", timeout_ms: 50 }",
    "handler: { retries: " .. (opts.retries or 1) .. ", backoff_ms: " .. (opts.backoff_ms or 10) .. " }",
    -- text: the specs read the lines (off a terminal the default is json)
    "log: { level: " .. (opts.log_level or "info") .. ", format: " .. (opts.log_format or "text") .. " }",
    -- a free port: specs run several eddy processes at once
    "http: { listen: \"" .. (opts.http or "127.0.0.1:0") .. "\" }",
  }
  local path = dir .. "/eddy.yaml"
  _M.write(path, table.concat(lines, "\n") .. "\n" .. (opts.extra or ""))
  return path
end

-- Writes handlers/NAME.lua files: files = { name = source }.
function _M.handlers(dir, files)
  _M.sh("mkdir -p " .. shell_quote(dir .. "/handlers"))
  for name, src in pairs(files) do _M.write(dir .. "/handlers/" .. name, src) end
end

_M.TYPE = "com.relexsolutions.supply-chain.transactions.order-proposals.v1"
_M.TENANT = "customer-retail-001"

-- A CloudEvent order proposal as JSON text; o overrides envelope fields
-- (o.drop = { "specversion" } removes attributes).
function _M.event(key, version, o)
  o = o or {}
  local ev = {
    specversion = "1.0", type = _M.TYPE,
    source = "urn:relex:plan:" .. _M.TENANT .. ":order-proposals",
    id = key, time = "2025-01-14T12:30:00Z", datacontenttype = "application/json",
    meta = { correlation_id = "c0ffee00-0000-4000-8000-" .. string.format("%012d", version),
             tenant = _M.TENANT,
             source = { application = "relex-plan", environment_type = "production" } },
    data = { order_id = key, product_id = "PROD-000001", location_id = "STORE-0001",
             supplier_id = "SUP-00001", quantity = 10 * version, unit = "EA",
             order_date = "2025-01-14", delivery_date = "2025-01-20T08:00:00Z",
             status = "proposed", version = version,
             lines = { { line_no = 1, sku = "SKU-0000001", quantity = 10 * version } } },
  }
  for k, v in pairs(o) do if k ~= "drop" then ev[k] = v end end
  for _, k in ipairs(o.drop or {}) do ev[k] = nil end
  return cjson.encode(ev)
end

-- 30 keys, 4 versions each in rounds, tombstones in round 3, then four
-- envelope violations that must not touch the state. Returns the records
-- and the version each key ends with (nil: deleted).
function _M.snapshot_stream()
  local records, expect = {}, {}
  for round = 1, 4 do
    for k = 1, 30 do
      local key = "ORD-" .. k
      if round == 3 and k % 10 == 0 then
        records[#records + 1] = { key, nil }
        expect[key] = nil
      else
        records[#records + 1] = { key, _M.event(key, round) }
        expect[key] = round
      end
    end
  end
  records[#records + 1] = { "ORD-1", _M.event("ORD-999", 9) } -- key != id
  records[#records + 1] = { "ORD-2", _M.event("ORD-2", 9, { drop = { "specversion" } }) }
  records[#records + 1] = { "ORD-3", "this is not json" }
  records[#records + 1] = { "ORD-4", _M.event("ORD-4", 9, { specversion = "0.3" }) }
  return records, expect
end

-- n changes to the given number of keys, in turn: a new version of the
-- key (its data.version is the change's number) or, every 97th change, its
-- tombstone. Returns the records and the version each key ends with (nil:
-- deleted).
function _M.churn_stream(n, keys)
  local records, expect = {}, {}
  for i = 1, n do
    local key = "ORD-" .. (i % keys)
    if i % 97 == 0 then
      records[#records + 1] = { key, nil }
      expect[key] = nil
    else
      records[#records + 1] = { key, _M.event(key, i) }
      expect[key] = i
    end
  end
  return records, expect
end

-- Rows of a query as a list of tables (sqlite3 -json).
function _M.query(db, sql)
  local rc, out = _M.sh("sqlite3 -json " .. shell_quote(db) .. " " .. shell_quote(sql), true)
  assert(rc == 0, "sqlite3 failed: " .. out)
  if out:match("^%s*$") then return {} end
  return cjson.decode(out)
end

-- The port of the HTTP endpoint a running eddy logged ("http: ... (port N)").
function _M.http_port(proc)
  for _ = 1, 200 do
    local port = proc.log():match("http: [^\n]* %(port (%d+)%)")
    if port then return tonumber(port) end
    _M.sleep(0.05)
  end
  error("no HTTP endpoint in the log: " .. proc.log())
end

-- GET http://127.0.0.1:port/path: status code and body.
function _M.http_get(port, path)
  local rc, out = _M.sh("curl -s -m 5 -w '\n%{http_code}' http://127.0.0.1:" .. port .. path)
  assert(rc == 0, "curl failed (" .. tostring(rc) .. ") on " .. path)
  local body, code = out:match("^(.*)\n(%d+)$")
  return tonumber(code), body
end

-- Runs eddy with args; returns exit code and combined output.
function _M.eddy(args, timeout)
  return _M.sh("timeout " .. (timeout or 60) .. " " .. shell_quote(_M.bin) .. " " .. args, true)
end

-- Runs cmd (a shell command line) in the background. The handle has pid,
-- log() (what it printed so far) and wait() (its exit code, nil when it did
-- not end within 20 s).
function _M.spawn(dir, name, cmd)
  local base = dir .. "/" .. name
  _M.sh("sh -c " .. shell_quote(cmd .. " >" .. shell_quote(base .. ".log") .. " 2>&1 & echo $! >" ..
    shell_quote(base .. ".pid") .. "; wait $!; echo $? >" .. shell_quote(base .. ".rc")) ..
    " >/dev/null 2>&1 &")
  -- a number and its newline: the file may be seen before echo wrote it
  local function read_number(path, tries)
    for _ = 1, tries do
      local n = (_M.read(path) or ""):match("^(%d+)\n")
      if n then return tonumber(n) end
      _M.sleep(0.05)
    end
  end
  local pid = read_number(base .. ".pid", 200)
  assert(pid, "no pid for " .. cmd)
  return {
    pid = pid,
    log = function() return _M.read(base .. ".log") or "" end,
    wait = function() return read_number(base .. ".rc", 400) end,
  }
end

-- A handler that spends about seconds of CPU per event, then upserts (or
-- deletes on a tombstone): slow enough for a signal to land mid-stream.
function _M.slow_handler(seconds)
  return ([[
local clock = os.clock
return {
  on_event = function(ev, ctx)
    local t0 = clock()
    while clock() - t0 < SECONDS do end
    if ev.deleted then return ctx.delete("orders", ev.key) end
    ctx.upsert("orders", ev.key, ev.data)
  end,
}
]]):gsub("SECONDS", tostring(seconds)), nil
end

_M.ORDERS_HANDLER = [[
return {
  subscribe = { types = { "com.relexsolutions.supply-chain.*" } },
  on_event = function(ev, ctx)
    if ev.deleted then return ctx.delete("orders", ev.key) end
    ctx.upsert("orders", ev.key, ev.data)
  end,
}
]]

return _M
