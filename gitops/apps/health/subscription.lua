-- OLM Subscription, stricter than Argo CD's own check: Healthy only once a CSV is installed
-- (installedCSV set, state AtLatestKnown, UpgradePending or UpgradeAvailable), so a later sync wave
-- does not start before the operator exists. An upgrade waiting for a Manual InstallPlan approval
-- stays Healthy: the installed operator keeps working. OLM prunes old InstallPlans, so an installed
-- operator whose referenced plan is gone (InstallPlanMissing, reason ReferencedInstallPlanNotFound)
-- is Healthy, as in Argo CD's own check; before anything is installed it is Degraded (OLM does not
-- plan again by itself). Deprecation conditions are reported, never Degraded. Valid in Lua 5.1 and 5.4.
local function text(v)
  if v == nil then return "" end
  return tostring(v)
end

local hs = { status = "Progressing", message = "Waiting for OLM to resolve the subscription" }
if obj.metadata ~= nil and obj.metadata.deletionTimestamp ~= nil then
  hs.message = "Being deleted"
  return hs
end
if obj.status == nil then
  return hs
end

local installed = obj.status.installedCSV
if installed == "" then installed = nil end
local state = obj.status.state

local failing = { ResolutionFailed = true, InstallPlanFailed = true, CatalogSourcesUnhealthy = true, BundleUnpackFailed = true }
local pending = nil
local missing = nil
local deprecated = nil
if obj.status.conditions ~= nil then
  for _, c in ipairs(obj.status.conditions) do
    if failing[c.type] and c.status == "True" then
      hs.status = "Degraded"
      hs.message = c.type .. " (" .. text(c.reason) .. "): " .. text(c.message)
      return hs
    end
    if c.type == "InstallPlanMissing" and c.status == "True" then
      missing = c
    end
    if c.type == "InstallPlanPending" and c.status == "True" then
      pending = c
    end
    if c.type == "Deprecated" and c.status == "True" then
      deprecated = c
    end
  end
end

if state == "UpgradeFailed" then
  hs.status = "Degraded"
  hs.message = "UpgradeFailed: " .. text(obj.status.reason) .. " (" .. text(obj.status.currentCSV) .. ")"
  return hs
end

if missing ~= nil and not (installed ~= nil and missing.reason == "ReferencedInstallPlanNotFound") then
  hs.status = "Degraded"
  hs.message = "InstallPlanMissing (" .. text(missing.reason) .. "): " .. text(missing.message)
  return hs
end

if installed ~= nil and (state == "AtLatestKnown" or state == "UpgradePending" or state == "UpgradeAvailable") then
  hs.status = "Healthy"
  if state ~= "AtLatestKnown" and obj.status.currentCSV ~= nil and obj.status.currentCSV ~= installed then
    hs.message = installed .. " installed; " .. text(obj.status.currentCSV) .. " waits for its InstallPlan"
  else
    hs.message = installed .. " installed"
  end
  if missing ~= nil then
    hs.message = hs.message .. "; its InstallPlan was pruned by OLM (" .. text(missing.reason) .. ")"
  end
  if deprecated ~= nil then
    hs.message = hs.message .. "; deprecated: " .. text(deprecated.message)
  end
  return hs
end

if pending ~= nil then
  hs.message = "InstallPlan pending (" .. text(pending.reason) .. ") for " .. text(obj.status.currentCSV)
  return hs
end
hs.message = "State " .. text(state) .. ", waiting for " .. text(obj.status.currentCSV) .. " to be installed"
return hs
