-- Kafka faults through the mock cluster's own API while eddy runs: group
-- joins refused, fetches and offset commits failing, dead letters refused,
-- a partition leader moving, a broker down and up, the group coordinator
-- moving. eddy retries and catches up; nothing past unapplied work is
-- committed, and the end state is exact.
local t = require "eddy_test"
local cjson = require "cjson"

-- Kafka error codes and API keys used below
local COORDINATOR_LOAD_IN_PROGRESS, NOT_LEADER, REQUEST_TIMED_OUT, NOT_COORDINATOR = 14, 6, 7, 16
local FETCH, OFFSET_COMMIT, JOIN_GROUP = 1, 8, 11

local function sum(list)
  local n = 0
  for _, v in ipairs(list) do n = n + math.max(v, 0) end
  return n
end

describe("Kafka faults", function()
  local dir, mock

  setup(function()
    dir = t.tmpdir()
    mock = t.start_mock(dir, { "faults:3", "faults.dlq" }, 3)
  end)

  teardown(function()
    t.stop_mock(mock)
    t.sh("rm -rf " .. t.q(dir))
  end)

  it("are retried through; the state is exact and every offset committed once the work is done", function()
    local records, expect = t.churn_stream(3000, 200)
    local invalid = {}
    for i = 100, #records, 100 do
      local key = records[i][1]
      records[i] = { key, "not json " .. i }
      invalid[#invalid + 1] = key
    end
    expect = {}
    for _, r in ipairs(records) do
      if not r[2] then expect[r[1]] = nil
      elseif r[2]:sub(1, 1) == "{" then expect[r[1]] = cjson.decode(r[2]).data.version end
    end
    t.produce(mock, "faults", records, dir)
    t.handlers(dir, { ["orders.lua"] = t.slow_handler(0.001) })
    local conf = t.config(dir, mock, { group = "g-faults", topics = { "faults" }, dlq = "faults.dlq",
                                       store = dir .. "/faults.db", batch = 100 })
    -- the first joins are refused
    t.fault(dir, "request-errors " .. JOIN_GROUP .. " 2 " .. COORDINATOR_LOAD_IN_PROGRESS)
    local run = t.spawn(dir, "faults", t.q(t.bin) .. " run -c " .. t.q(conf))
    local function committed() return t.committed(mock, "g-faults", "faults", 3) end
    for _ = 1, 400 do
      if sum(committed()) > 0 then break end
      t.sleep(0.05)
    end
    assert.truthy(sum(committed()) > 0, run.log())
    t.fault(dir, "request-errors " .. FETCH .. " 3 " .. NOT_LEADER,
                 "request-errors " .. OFFSET_COMMIT .. " 3 " .. REQUEST_TIMED_OUT,
                 "produce-errors 3 " .. REQUEST_TIMED_OUT,
                 "leader faults 0 2")
    t.sleep(0.5)
    t.fault(dir, "broker-down 3")
    t.sleep(1.5)
    t.fault(dir, "broker-up 3", "coordinator g-faults 2",
                 "request-errors " .. OFFSET_COMMIT .. " 2 " .. NOT_COORDINATOR)
    for _ = 1, 1200 do
      if sum(committed()) == #records then break end
      t.sleep(0.05)
    end
    t.sh("kill -TERM " .. run.pid)
    assert.are.equal(0, run.wait(), run.log())
    assert.are.equal(#records, sum(committed()), run.log())

    local got = {}
    for _, r in ipairs(t.query(dir .. "/faults.db", "select key, value from orders")) do
      got[r.key] = cjson.decode(r.value).version
    end
    assert.are.same(expect, got)
    local dead = {}
    for _, m in ipairs(t.consume(mock, "faults.dlq")) do dead[m.key] = true end
    for _, key in ipairs(invalid) do assert.truthy(dead[key], key .. " not dead-lettered") end
    -- a refused offset commit was retried by the next one
    assert.matches("commit: Broker: Request timed out", run.log(), 1, true)
  end)
end)
