-- OLM ClusterServiceVersion: the operator itself. Healthy in phase Succeeded, Degraded in Failed,
-- Progressing in every other phase. During an upgrade OLM keeps the old CSV, in phase Replacing and
-- then Deleting, while its successor installs: that stale CSV is normal and still serves, so it is
-- Healthy. Valid in Lua 5.1 and 5.4.
local function text(v)
  if v == nil then return "" end
  return tostring(v)
end

local hs = { status = "Progressing", message = "Waiting for OLM to install the operator" }
if obj.status == nil or obj.status.phase == nil then
  return hs
end
local phase = obj.status.phase
if phase == "Succeeded" then
  hs.status = "Healthy"
elseif phase == "Replacing" or phase == "Deleting" then
  hs.status = "Healthy"
  hs.message = phase .. ": replaced by a newer version (" .. text(obj.status.reason) .. ")"
  return hs
elseif phase == "Failed" then
  hs.status = "Degraded"
end
hs.message = phase .. " (" .. text(obj.status.reason) .. "): " .. text(obj.status.message)
return hs
