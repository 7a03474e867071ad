-- :RetraceTree: the server's text rendering of the tree in a scratch window.
-- <CR> jumps to the node under the cursor (every line starts with its `#ID` after the
-- branch drawing), q closes. The window follows the history while it is open.
local client = require("retrace.client")
local config = require("retrace.config")

local M = {}

local CURRENT_MARK = "<- current"

-- root -> { buf, win, origin }: the tree window of each workspace, while it exists.
local views = {}

-- The node id on a line of the text tree, or nil.
function M.node_on(line)
  return tonumber(line:match("^[^#]*#(%d+)"))
end

local function lines_of(text)
  local lines = vim.split(text or "", "\n", { plain = true })
  if lines[#lines] == "" then
    table.remove(lines)
  end
  if #lines == 0 then
    lines = { "(no history yet in this workspace: visit a file first)" }
  end
  return lines
end

local function render(view, lines)
  vim.bo[view.buf].modifiable = true
  vim.api.nvim_buf_set_lines(view.buf, 0, -1, false, lines)
  vim.bo[view.buf].modifiable = false
  vim.bo[view.buf].modified = false
  if view.win and vim.api.nvim_win_is_valid(view.win) then
    for i, line in ipairs(lines) do
      if line:sub(-#CURRENT_MARK) == CURRENT_MARK then
        vim.api.nvim_win_set_cursor(view.win, { i, 0 })
        break
      end
    end
  end
end

local function close(view)
  if view.win and vim.api.nvim_win_is_valid(view.win) then
    if #vim.api.nvim_list_wins() > 1 then
      vim.api.nvim_win_close(view.win, true)
    else
      vim.api.nvim_win_set_buf(view.win, vim.api.nvim_create_buf(true, false))
    end
  end
  view.win = nil
end

local function jump_under_cursor(root, view)
  local id = M.node_on(vim.api.nvim_get_current_line())
  if not id then
    return
  end
  close(view)
  if view.origin and vim.api.nvim_win_is_valid(view.origin) then
    vim.api.nvim_set_current_win(view.origin)
  end
  require("retrace").jump(id, root)
end

local function new_buffer(root, view)
  local buf = vim.api.nvim_create_buf(false, true)
  vim.bo[buf].buftype = "nofile"
  vim.bo[buf].bufhidden = "wipe"
  vim.bo[buf].swapfile = false
  pcall(vim.api.nvim_buf_set_name, buf, "retrace://tree" .. root)
  vim.bo[buf].filetype = "retrace"
  local function map(lhs, fn, desc)
    vim.api.nvim_buf_set_keymap(buf, "n", lhs, "", { nowait = true, noremap = true, callback = fn, desc = desc })
  end
  map("<CR>", function()
    jump_under_cursor(root, view)
  end, "retrace: jump to this node")
  map("q", function()
    close(view)
  end, "retrace: close the tree")
  vim.api.nvim_create_autocmd("BufWipeout", {
    buffer = buf,
    callback = function()
      if views[root] == view then
        views[root] = nil
      end
    end,
  })
  return buf
end

local function open_window(view, lines)
  local opts = config.options.tree
  if opts.layout == "float" then
    local width = math.max(40, math.floor(vim.o.columns * 0.8))
    local height = math.max(5, math.floor((vim.o.lines - vim.o.cmdheight) * 0.7))
    view.win = vim.api.nvim_open_win(view.buf, true, {
      relative = "editor",
      width = math.min(width, vim.o.columns - 2),
      height = math.min(height, vim.o.lines - 3),
      row = math.floor((vim.o.lines - height) / 2) - 1,
      col = math.floor((vim.o.columns - width) / 2),
      style = "minimal",
      border = "rounded",
    })
    vim.api.nvim_buf_set_keymap(view.buf, "n", "<Esc>", "", {
      nowait = true,
      noremap = true,
      callback = function()
        close(view)
      end,
    })
  else
    local height = math.max(3, math.min(#lines, opts.height))
    vim.cmd(("botright %dsplit"):format(height))
    view.win = vim.api.nvim_get_current_win()
    vim.api.nvim_win_set_buf(view.win, view.buf)
    vim.wo[view.win].winfixheight = true
  end
  local wo = vim.wo[view.win]
  wo.number = false
  wo.relativenumber = false
  wo.wrap = false
  wo.cursorline = true
  wo.spell = false
  wo.list = false
  wo.signcolumn = "no"
  wo.foldcolumn = "0"
end

local function show(root, origin, text)
  local lines = lines_of(text)
  local view = views[root]
  if not view or not vim.api.nvim_buf_is_valid(view.buf) then
    view = {}
    view.buf = new_buffer(root, view)
    views[root] = view
  end
  if origin ~= view.win then
    view.origin = origin
  end
  if view.win and vim.api.nvim_win_is_valid(view.win) then
    vim.api.nvim_set_current_win(view.win)
  else
    open_window(view, lines)
  end
  render(view, lines)
end

-- Opens (or focuses and refreshes) the tree window of `root`.
function M.open(root)
  local origin = vim.api.nvim_get_current_win()
  client.command(root, "retrace.tree", { format = "text" }, function(text)
    show(root, origin, text)
  end)
end

-- Whether a tree window is shown for `root` (tests and the refresh below).
function M.view(root)
  local view = views[root]
  if view and view.win and vim.api.nvim_win_is_valid(view.win) then
    return view
  end
  return nil
end

-- Follow the history while the window is open.
client.on_change(function(root)
  if not M.view(root) then
    return
  end
  client.command(root, "retrace.tree", { format = "text" }, function(text)
    local view = M.view(root)
    if view then
      render(view, lines_of(text))
    end
  end)
end)

return M
