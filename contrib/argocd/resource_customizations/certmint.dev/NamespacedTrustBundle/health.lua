-- Argo CD health of a certmint.dev TrustBundle or NamespacedTrustBundle. certmint writes the
-- condition Synced: every selected namespace (a NamespacedTrustBundle's own) publishes the bundle's
-- ConfigMap (and Secret) as its sources read now.
-- Lua 5.1 (Argo CD's gopher-lua) and later.

-- Synced=False reasons that mean "on its way", not "broken" (src/certmint/planning/reasons.py):
-- none. A bundle whose issuer certmint has not reconciled yet waits without a Synced condition
-- (Progressing). SourceUnavailable, InvalidSource, UnconstrainedIssuerCA, ConfigMapConflict,
-- ConfigMapContested, SecretConflict and SecretContested (the `secret` target), ReservedName,
-- InvalidSpec and SourceOutsideNamespace need a fix: Degraded (the healthy sources are published
-- all the same; the message says so).
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

local hs = {}
local synced = find_condition(obj.status, "Synced")
local generation = obj.metadata.generation
if synced == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for certmint to publish the bundle"
  return hs
end
if generation ~= nil and synced.observedGeneration ~= nil and synced.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = string.format("Waiting for certmint to act on generation %d", generation)
  return hs
end
if synced.status == "True" then
  hs.status = "Healthy"
  hs.message = synced.message or ""
  return hs
end
if synced.status == "False" and not IN_PROGRESS_REASONS[synced.reason] then
  hs.status = "Degraded"
  hs.message = describe(synced)
  return hs
end
hs.status = "Progressing"
hs.message = describe(synced)
return hs
