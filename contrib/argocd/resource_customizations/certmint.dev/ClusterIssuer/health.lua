-- Argo CD health of a certmint.dev Issuer or ClusterIssuer (ClusterIssuer/health.lua is a copy,
-- written by tools/argocd_cm.py). certmint writes the condition Ready (its CA signs) and, for a
-- selfSigned issuer, status.rotation.phase (Stable, Prepared, Overlap), shown in the message.
-- Lua 5.1 (Argo CD's gopher-lua) and later.

-- Ready=False reasons that mean "on its way", not "broken" (src/certmint/planning/reasons.py):
-- none. An issuer makes or loads its CA in one reconcile; until then it has no Ready condition
-- (Progressing). Every Ready=False reason (CASecretNotFound, CASecretInvalid, CAKeyMismatch,
-- CAExpired, InvalidSpec, RotationScheduleInvalid, RevocationListInvalid...) needs a fix: Degraded.
local IN_PROGRESS_REASONS = {}

local function find_condition(status, condition_type)
  if status == nil or status.conditions == nil then
    return nil
  end
  for _, condition in ipairs(status.conditions) do
    if condition.type == condition_type then
      return condition
    end
  end
  return nil
end

local function describe(condition)
  if condition.message == nil or condition.message == "" then
    return condition.reason or ""
  end
  return (condition.reason or "") .. ": " .. condition.message
end

local function with_rotation(message, status)
  if status == nil or status.rotation == nil or status.rotation.phase == nil then
    return message
  end
  local rotation = "CA rotation " .. status.rotation.phase
  if status.rotation.phase == "Prepared" and status.rotation.activatesAt ~= nil then
    rotation = rotation .. " (the next CA signs from " .. status.rotation.activatesAt .. ")"
  elseif status.rotation.phase == "Overlap" and status.rotation.retiresAt ~= nil then
    rotation = rotation .. " (the previous CA is trusted until " .. status.rotation.retiresAt .. ")"
  end
  if message == "" then
    return rotation
  end
  return message .. "; " .. rotation
end

local hs = {}
local ready = find_condition(obj.status, "Ready")
local generation = obj.metadata.generation
if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for certmint to make or load the CA"
  return hs
end
if generation ~= nil and ready.observedGeneration ~= nil and ready.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = string.format("Waiting for certmint to act on generation %d", generation)
  return hs
end
if ready.status == "True" then
  hs.status = "Healthy"
  hs.message = with_rotation(ready.message or "", obj.status)
  return hs
end
if ready.status == "False" and not IN_PROGRESS_REASONS[ready.reason] then
  hs.status = "Degraded"
  hs.message = with_rotation(describe(ready), obj.status)
  return hs
end
hs.status = "Progressing"
hs.message = with_rotation(describe(ready), obj.status)
return hs
