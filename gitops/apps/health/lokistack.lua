-- LokiStack (loki.grafana.com): Argo CD ships no check for it.
-- Healthy on Ready=True, Degraded on Failed=True or Degraded=True, Progressing otherwise
-- (including conditions written for an older generation). Warning=True (e.g. a schema upgrade is
-- due) is reported, never Degraded; the operator leaves the other conditions False, which is normal.
-- Suspended when managementState is Unmanaged. Valid in Lua 5.1 and 5.4.
local function text(v)
  if v == nil then return "" end
  return tostring(v)
end

local hs = { status = "Progressing", message = "Waiting for the Loki Operator to report conditions" }
if obj.spec ~= nil and obj.spec.managementState == "Unmanaged" then
  hs.status = "Suspended"
  hs.message = "managementState Unmanaged: the Loki Operator does not reconcile it"
  return hs
end
if obj.status == nil or obj.status.conditions == nil then
  return hs
end

local ready = nil
local warning = nil
for _, c in ipairs(obj.status.conditions) do
  if c.type == "Warning" and c.status == "True" then
    warning = c
  end
  if (c.type == "Failed" or c.type == "Degraded") and c.status == "True" then
    hs.status = "Degraded"
    hs.message = c.type .. " (" .. text(c.reason) .. "): " .. text(c.message)
    return hs
  end
  if c.type == "Ready" then
    ready = c
  end
end

local generation = obj.metadata and obj.metadata.generation
if ready ~= nil and ready.observedGeneration ~= nil and generation ~= nil and ready.observedGeneration < generation then
  hs.message = "Ready reflects generation " .. text(ready.observedGeneration) .. ", the spec is at " .. text(generation)
  return hs
end

if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = "All LokiStack components are ready"
  if warning ~= nil then
    hs.message = hs.message .. "; warning (" .. text(warning.reason) .. "): " .. text(warning.message)
  end
  return hs
end

for _, c in ipairs(obj.status.conditions) do
  if c.type == "Pending" and c.status == "True" then
    hs.message = "Pending (" .. text(c.reason) .. "): " .. text(c.message)
  end
end
return hs
