-- OLM Subscription, stricter than Argo CD's own check: Healthy only once a CSV is installed
-- (installedCSV set, state AtLatestKnown or UpgradePending), so a later sync wave does not start
-- before the operator exists. An upgrade waiting for a Manual InstallPlan approval stays Healthy:
-- the installed operator keeps working. Valid in Lua 5.1 and 5.4.
local function text(v)
  if v == nil then return "" end
  return tostring(v)
end

local hs = { status = "Progressing", message = "Waiting for OLM to resolve the subscription" }
if obj.status == nil then
  return hs
end

local failing = { ResolutionFailed = true, InstallPlanFailed = true, CatalogSourcesUnhealthy = true, InstallPlanMissing = true }
local pending = nil
if obj.status.conditions ~= nil then
  for _, c in ipairs(obj.status.conditions) do
    if failing[c.type] and c.status == "True" then
      hs.status = "Degraded"
      hs.message = c.type .. " (" .. text(c.reason) .. "): " .. text(c.message)
      return hs
    end
    if c.type == "InstallPlanPending" and c.status == "True" then
      pending = c
    end
  end
end

local installed = obj.status.installedCSV
local state = obj.status.state
if installed ~= nil and installed ~= "" and (state == "AtLatestKnown" or state == "UpgradePending") then
  hs.status = "Healthy"
  if state == "UpgradePending" and obj.status.currentCSV ~= nil and obj.status.currentCSV ~= installed then
    hs.message = installed .. " installed; " .. text(obj.status.currentCSV) .. " waits for its InstallPlan"
  else
    hs.message = installed .. " installed"
  end
  return hs
end

if pending ~= nil then
  hs.message = "InstallPlan pending (" .. text(pending.reason) .. ") for " .. text(obj.status.currentCSV)
  return hs
end
hs.message = "State " .. text(state) .. ", waiting for " .. text(obj.status.currentCSV) .. " to be installed"
return hs
