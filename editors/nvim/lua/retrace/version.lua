-- Version numbers of retrace-lsp, and the oldest one this plugin works with.
local M = {}

-- The first release with everything the plugin uses (PROTOCOL.md as of this plugin).
M.MINIMUM = "0.1.0"

-- {major, minor, patch} from "0.1.0", "retrace-lsp 0.1.0" or "0.2.0-dev"; nil if none.
function M.parse(text)
  if type(text) ~= "string" then
    return nil
  end
  local major, minor, patch = text:match("(%d+)%.(%d+)%.(%d+)")
  if not major then
    return nil
  end
  return { tonumber(major), tonumber(minor), tonumber(patch) }
end

-- Whether `text` names a version at least `minimum` (false when it names none).
function M.at_least(text, minimum)
  local have, want = M.parse(text), M.parse(minimum or M.MINIMUM)
  if not have then
    return false
  end
  for i = 1, 3 do
    if have[i] ~= want[i] then
      return have[i] > want[i]
    end
  end
  return true
end

return M
