-- The deployment examples: the container's runtime packages cover every
-- library the binary links, the Kubernetes manifests and the Confluent Cloud
-- config parse and load. No container engine runs here, so this is what can
-- be checked without one.
local t = require "eddy_test"

-- The packages named by the runtime stage's apt-get install.
local function runtime_packages()
  local text = t.read(t.root .. "/examples/container/Containerfile")
  local stage = text:match("\nFROM debian:12%-slim\n(.*)$")
  assert(stage, "no runtime stage")
  local install = stage:match("apt%-get install %-y %-%-no%-install%-recommends(.-)\n &&")
  assert(install, "no apt-get install in the runtime stage")
  local pkgs = {}
  for p in install:gsub("\\\n", " "):gmatch("[%w][%w%.%+%-]+") do pkgs[#pkgs + 1] = p end
  return pkgs
end

-- The packages that hold paths (ldd may name /lib where dpkg knows /usr/lib),
-- by path, in one dpkg call.
local function packages_of(paths)
  local args = {}
  for _, p in ipairs(paths) do
    args[#args + 1] = t.q(p)
    args[#args + 1] = t.q(p:match("^/usr") and p:gsub("^/usr", "") or "/usr" .. p)
  end
  local _, out = t.sh("dpkg -S " .. table.concat(args, " ") .. " 2>/dev/null")
  local by = {}
  for line in out:gmatch("[^\n]+") do
    -- "libc6:amd64: /lib/x86_64-linux-gnu/libc.so.6"
    local pkg, path = line:match("^([^:,]+)[^ ]*: (/%S+)$")
    if pkg then
      by[path] = pkg
      by[path:match("^/usr") and path:gsub("^/usr", "") or "/usr" .. path] = pkg
    end
  end
  return by
end

-- Every package pkgs depends on, directly or not, as installed here (one
-- dpkg-query for all installed packages).
local function closure(pkgs)
  local _, out = t.sh("dpkg-query -W -f='${Package} ${Depends},${Pre-Depends}\\n'")
  local deps = {}
  for name, rest in out:gmatch("(%S+) ([^\n]*)") do deps[name] = rest end
  local seen, todo = {}, {}
  for _, p in ipairs(pkgs) do todo[#todo + 1] = p end
  while #todo > 0 do
    local p = table.remove(todo)
    if not seen[p] then
      seen[p] = true
      -- "a (>= 1) | b": any of the alternatives; take each
      for d in (deps[p] or ""):gmatch("([%w][%w%.%+%-]+)[^,|]*") do
        d = d:gsub(":any$", "")
        if not seen[d] then todo[#todo + 1] = d end
      end
    end
  end
  return seen
end

describe("the deployment examples", function()
  it("the container's runtime stage installs every library eddy links", function()
    local listed = runtime_packages()
    local have = closure(listed)
    local rc, out = t.sh("ldd " .. t.q(t.bin))
    assert.are.equal(0, rc, out)
    local missing, libs = {}, {}
    for lib in out:gmatch("=> (/%S+)") do
      -- the sanitizer runtimes of an ASan+UBSan build: the image builds without
      if not lib:match("/lib[aut]?[bls]?san%.so") then libs[#libs + 1] = lib end
    end
    local cjson_so = "/usr/lib/x86_64-linux-gnu/lua/5.1/cjson.so"
    libs[#libs + 1] = cjson_so
    local by = packages_of(libs)
    for _, lib in ipairs(libs) do
      local pkg = by[lib]
      assert(pkg, "no package holds " .. lib)
      if not have[pkg] then missing[#missing + 1] = pkg .. " (" .. lib .. ")" end
    end
    assert.are.same({}, missing)
    -- what the image copies and runs exists and loads
    assert.truthy(t.read(t.root .. "/conf/eddy.yaml"))
    rc, out = t.eddy("check -c conf/eddy.yaml")
    assert.are.equal(0, rc, out)
  end)

  local env = "HOSTNAME=eddy-0 KAFKA_BOOTSTRAP=b:9092 KAFKA_API_KEY=k KAFKA_API_SECRET=kafka-secret " ..
    "SCHEMA_REGISTRY_URL=https://sr.example SR_API_KEY=k SR_API_SECRET=sr-secret " ..
    "EDDY_PG_DSN=postgresql://eddy:pg-secret@db/eddy OPS_WEBHOOK_URL=https://hooks.example/x " ..
    "OPS_WEBHOOK_SECRET=whsec_c2VjcmV0 "

  it("the Confluent Cloud config loads, and eddy config shows it without secrets", function()
    local rc, out = t.sh(env .. t.q(t.bin) .. " check -c examples/confluent-cloud.yaml", true)
    assert.are.equal(0, rc, out)
    rc, out = t.sh(env .. t.q(t.bin) .. " config -c examples/confluent-cloud.yaml", true)
    assert.are.equal(0, rc, out)
    assert.matches('listen: "0.0.0.0:9464"', out, 1, true)
    assert.matches('format: "json"', out, 1, true)
    for _, s in ipairs({ "kafka-secret", "sr-secret", "pg-secret", "whsec_" }) do
      assert.is_nil(out:find(s, 1, true), s)
    end
  end)

  it("the Kubernetes manifests parse, and their eddy.yaml and handler load", function()
    local dir = t.tmpdir()
    local rc, out = t.sh("python3 -c " .. t.q([[
import sys, yaml
docs = [d for d in yaml.safe_load_all(open("examples/kubernetes/eddy.yaml")) if d]
kinds = sorted(d["kind"] for d in docs)
print(" ".join(kinds))
dep = [d for d in docs if d["kind"] == "Deployment"][0]
c = dep["spec"]["template"]["spec"]["containers"][0]
assert c["livenessProbe"]["httpGet"]["path"] == "/livez"
assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
assert dep["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= 30
for d in docs:
    if d["kind"] == "ConfigMap":
        for name, text in d["data"].items():
            open(sys.argv[1] + "/" + name, "w").write(text)
]]) .. " " .. t.q(dir), true)
    assert.are.equal(0, rc, out)
    assert.are.equal("ConfigMap ConfigMap Deployment PodMonitor Secret Service\n", out)
    -- the ConfigMap's config, with its handlers folder pointed at the other ConfigMap's files
    t.sh("mkdir -p " .. t.q(dir .. "/handlers") .. " && mv " .. t.q(dir) .. "/*.lua " .. t.q(dir .. "/handlers"))
    rc, out = t.sh(env .. "EDDY_HANDLERS=" .. t.q(dir .. "/handlers") .. " " .. t.q(t.bin) ..
      " check -c " .. t.q(dir .. "/eddy.yaml"), true)
    assert.are.equal(0, rc, out)
    assert.matches("ok: 1 handlers", out, 1, true)
    t.sh("rm -rf " .. t.q(dir))
  end)
end)
