-- Argo CD health of a certmint.dev Certificate. certmint writes two conditions: Ready (the Secret
-- holds a valid, current certificate) and Issuing. Lua 5.1 (Argo CD's gopher-lua) and later.

-- Ready=False reasons that mean "on its way", not "broken" (src/certmint/planning/reasons.py): the
-- issuer exists but has no usable CA yet. Every other Ready=False reason needs a change of the
-- Certificate, its issuer, a Secret or a policy: Degraded.
local IN_PROGRESS_REASONS = {
  IssuerNotReady = true,
}

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
local ready = find_condition(obj.status, "Ready")
local generation = obj.metadata.generation
if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for certmint to issue the certificate"
  return hs
end
if generation ~= nil and ready.observedGeneration ~= nil and ready.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = string.format("Waiting for certmint to act on generation %d", generation)
  return hs
end
if ready.status == "True" then
  hs.status = "Healthy"
  hs.message = ready.message or ""
  return hs
end
if ready.status == "False" and not IN_PROGRESS_REASONS[ready.reason] then
  hs.status = "Degraded"
  hs.message = describe(ready)
  return hs
end
hs.status = "Progressing"
hs.message = describe(ready)
return hs
