-- Moving the editor to a place: the plugin's own moves (back, forward, jump) and the
-- server's `window/showDocument` requests (the Retrace app asks the server to move the
-- editor; with `server_options.showDocument` every move is made that way). Both go the same
-- way: in the window the user works in, leaving the jumplist alone when `keepjumps` is set,
-- and never reported back as a visit.
local compat = require("retrace.compat")
local config = require("retrace.config")
local tracker = require("retrace.tracker")

local M = {}

local function notify(message, level)
  vim.notify(message, level or vim.log.levels.INFO, { title = "retrace" })
end

-- Shows an LSP Location (its range's start) in the window the user works in.
function M.location(location)
  local path = vim.uri_to_fname(location.uri)
  local win = tracker.target_window()
  tracker.moving(function()
    vim.api.nvim_set_current_win(win)
    local bufnr = vim.fn.bufadd(path)
    local keep = config.options.keepjumps and "keepjumps " or ""
    if vim.api.nvim_get_current_buf() ~= bufnr then
      -- With 'nohidden', a modified buffer would refuse to be left (E37): keep it hidden,
      -- as :hide does, rather than fail the move the server already made.
      local hide = (vim.bo.modified and not vim.o.hidden) and "hide " or ""
      vim.bo[bufnr].buflisted = true
      vim.cmd(keep .. hide .. "buffer " .. bufnr)
    elseif not config.options.keepjumps then
      vim.cmd("normal! m'")
    end
    local start = location.range.start
    local line = math.max(1, math.min(start.line + 1, vim.api.nvim_buf_line_count(bufnr)))
    local text = vim.api.nvim_buf_get_lines(bufnr, line - 1, line, false)[1] or ""
    vim.api.nvim_win_set_cursor(0, { line, compat.byte_index(text, start.character) })
    vim.cmd("normal! zv")
  end)
end

local ORIGIN = { line = 0, character = 0 }

-- The `window/showDocument` handler of the plugin's clients (Neovim 0.7 has none; the one
-- of newer Neovims adds a jumplist and a tag stack entry, which the tracker would take for
-- a visit). Files go through `M.location`; `external` documents to Neovim's own handler
-- when it has one. Returns the ShowDocumentResult.
function M.document(err, params, ctx, handler_config)
  if type(params) ~= "table" or type(params.uri) ~= "string" then
    return { success = false }
  end
  if params.external or not vim.startswith(params.uri, "file:") then
    local builtin = vim.lsp.handlers["window/showDocument"]
    if builtin then
      return builtin(err, params, ctx, handler_config)
    end
    return { success = false }
  end
  local range = type(params.selection) == "table" and params.selection or { start = ORIGIN, ["end"] = ORIGIN }
  local ok, problem = pcall(M.location, { uri = params.uri, range = range })
  if not ok then
    notify(("retrace: could not show %s: %s"):format(vim.uri_to_fname(params.uri), problem), vim.log.levels.ERROR)
    return { success = false }
  end
  return { success = true }
end

return M
