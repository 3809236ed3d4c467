-- OLM InstallPlan: Healthy when Complete, Degraded when Failed, Suspended while a Manual plan
-- waits for approval (the worker approves it only for the expected CSV), Progressing otherwise.
-- Valid in Lua 5.1 and 5.4.
local function text(v)
  if v == nil then return "" end
  return tostring(v)
end

local hs = { status = "Progressing", message = "Waiting for OLM to plan the install" }
if obj.status == nil or obj.status.phase == nil then
  return hs
end
local phase = obj.status.phase
local csvs = ""
if obj.spec ~= nil and obj.spec.clusterServiceVersionNames ~= nil then
  csvs = table.concat(obj.spec.clusterServiceVersionNames, ", ")
end
if phase == "Complete" then
  hs.status = "Healthy"
  hs.message = "Installed " .. csvs
elseif phase == "Failed" then
  hs.status = "Degraded"
  local why = ""
  if obj.status.conditions ~= nil then
    for _, c in ipairs(obj.status.conditions) do
      if c.status == "False" then why = text(c.reason) .. ": " .. text(c.message) end
    end
  end
  hs.message = "Failed to install " .. csvs .. " " .. why
elseif phase == "RequiresApproval" and (obj.spec == nil or obj.spec.approved ~= true) then
  hs.status = "Suspended"
  hs.message = "Waiting for approval to install " .. csvs
else
  hs.message = phase .. " " .. csvs
end
return hs
