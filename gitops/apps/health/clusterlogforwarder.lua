-- ClusterLogForwarder (observability.openshift.io/v1, Logging 6): Argo CD ships no check for it.
-- Healthy when Authorized, Valid and Ready are all True; Degraded when any of them, or any input,
-- output, pipeline or filter condition, is False; Progressing while conditions are missing or
-- were written for an older generation; Suspended when managementState is Unmanaged (the operator
-- leaves it alone, its conditions go stale). The Cluster Logging Operator spells the first two
-- observability.openshift.io/Authorized and observability.openshift.io/Valid; the bare names are
-- read too. Other conditions (LogLevel, ...) are not health. Valid in Lua 5.1 and 5.4.
local function text(v)
  if v == nil then return "" end
  return tostring(v)
end

local hs = { status = "Progressing", message = "Waiting for the logging operator to report conditions" }
if obj.spec ~= nil and obj.spec.managementState == "Unmanaged" then
  hs.status = "Suspended"
  hs.message = "managementState Unmanaged: the Cluster Logging Operator does not reconcile it"
  return hs
end
local prefix = "observability.openshift.io/"
local function short(t)
  if t ~= nil and string.sub(t, 1, string.len(prefix)) == prefix then return string.sub(t, string.len(prefix) + 1) end
  return t
end
if obj.status == nil or obj.status.conditions == nil then
  return hs
end

local generation = obj.metadata and obj.metadata.generation
local found = {}
for _, c in ipairs(obj.status.conditions) do
  local kind = short(c.type)
  if kind == "Authorized" or kind == "Valid" or kind == "Ready" then
    if c.observedGeneration ~= nil and generation ~= nil and c.observedGeneration < generation then
      hs.message = kind .. " reflects generation " .. text(c.observedGeneration) .. ", the spec is at " .. text(generation)
      return hs
    end
    if c.status == "False" then
      hs.status = "Degraded"
      hs.message = kind .. "=False (" .. text(c.reason) .. "): " .. text(c.message)
      return hs
    end
    found[kind] = c.status
  end
end

local parts = { "inputConditions", "outputConditions", "pipelineConditions", "filterConditions" }
for _, part in ipairs(parts) do
  local list = obj.status[part]
  if list ~= nil then
    for _, c in ipairs(list) do
      if c.status == "False" then
        hs.status = "Degraded"
        hs.message = part .. " " .. text(c.type) .. "=False (" .. text(c.reason) .. "): " .. text(c.message)
        return hs
      end
    end
  end
end

if found["Authorized"] == "True" and found["Valid"] == "True" and found["Ready"] == "True" then
  hs.status = "Healthy"
  hs.message = "Authorized, valid and ready"
  return hs
end
hs.message = "Waiting for Authorized, Valid and Ready to be True"
return hs
