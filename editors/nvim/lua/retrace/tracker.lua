-- Notices where the user arrives by a jump and reports it as a `retrace/visit`.
--
-- LSP has no cursor, so this is the plugin's one real job. The rule, checked once per event
-- loop turn after BufEnter, WinEnter or CursorMoved (so a jump that switches the buffer and
-- then sets the cursor is seen at its end):
--   * arriving in another file (another buffer, or another window) is a visit;
--   * within a file, a move of at least `jump_lines` lines is a visit when it was a jump in
--     Vim's sense: it put the place it left on the jumplist (G, gg, /, n, %, gd, tags, and
--     LSP go-to-definition, which all do), or it came from another window. Scrolling and
--     counts like 20j are not jumps.
-- The reason is read from what happened just before: an LSP location request that just
-- completed (definition, references...), a tag stack that grew (tag), a buffer read for the
-- first time (open), else switch or jump.
--
-- Moves the plugin makes itself (back, forward, jump) run inside `M.moving()`, which
-- records where they land as the new baseline, so they are never reported.
local client = require("retrace.client")
local compat = require("retrace.compat")
local config = require("retrace.config")

local M = {}

local group = nil
-- Where the user was at the last check: { win, buf, path, root, line, col, tagidx }.
local last = nil
local scheduled = false
local moving = 0
-- A reason announced by an LSP location request, valid for a moment: { reason, until }.
local pending = nil
-- Buffers read since the last check (their arrival is an "open").
local fresh = {}

local PENDING_MS = 1000

local lsp_reasons = {
  ["textDocument/definition"] = "definition",
  ["textDocument/declaration"] = "declaration",
  ["textDocument/implementation"] = "implementation",
  ["textDocument/typeDefinition"] = "type-definition",
  ["textDocument/references"] = "reference",
}

local function now_ms()
  return compat.uv.now()
end

-- Called when an LSP location request completes: the next arrival is its result.
function M.announce(method)
  local reason = lsp_reasons[method]
  if reason then
    pending = { reason = reason, until_ms = now_ms() + PENDING_MS }
  end
end

local function take_pending()
  local p = pending
  pending = nil
  if p and now_ms() <= p.until_ms then
    return p.reason
  end
  return nil
end

-- The current place, if it is one the history records. This runs on every cursor move: in
-- the window and buffer of `prev`, only the cursor can have moved, so the buffer's cached
-- place serves (a rename or a change of directory drops it) without its file being looked
-- at again.
local function here(prev)
  local win = vim.api.nvim_get_current_win()
  local buf = vim.api.nvim_win_get_buf(win)
  local path, root
  if prev and prev.win == win and prev.buf == buf then
    path, root = client.cached_place(buf)
  end
  if not path then
    path, root = client.place_of(buf)
    if not path then
      return nil
    end
  end
  local cursor = vim.api.nvim_win_get_cursor(win)
  local stack = vim.fn.gettagstack(win)
  return {
    win = win,
    buf = buf,
    path = path,
    root = root,
    line = cursor[1],
    col = cursor[2],
    tagidx = stack.curidx or 0,
  }
end

-- The state of a window's jumplist. Read only when a decision needs it (an arrival, a long
-- move, before a move of the plugin's), not on every cursor move: reading it drops an entry
-- for the line the cursor is on when that entry is the newest (Neovim's cleanup of
-- "phantom" jumps), which is harmless at those moments.
local function jumplist_state(win)
  local jumps = vim.fn.getjumplist(win)
  local list, idx = jumps[1], jumps[2]
  local newest = list[#list]
  return {
    win = win,
    count = #list,
    idx = idx,
    newest_buf = newest and newest.bufnr,
    newest_line = newest and newest.lnum,
    newest_col = newest and newest.col,
  }
end

local function same_jumplist(a, b)
  return a.win == b.win
    and a.count == b.count
    and a.idx == b.idx
    and a.newest_buf == b.newest_buf
    and a.newest_line == b.newest_line
    and a.newest_col == b.newest_col
end

-- The jumplist as last read.
local seen = nil

-- Whether the motion from `prev` to the current place (in one window) was a jump: the
-- jumplist changed since it was last read, and its newest entry is where the motion
-- started. (An entry that was already the newest, left by an earlier jump from the same
-- spot, is not taken for a new one.)
local function jumped(prev, now)
  local changed = not seen or not same_jumplist(seen, now)
  return changed and now.idx == now.count and now.newest_buf == prev.buf and now.newest_line == prev.line
end

local function send(place, reason)
  local line = vim.api.nvim_buf_get_lines(place.buf, place.line - 1, place.line, false)[1] or ""
  client.visit(place.root, {
    uri = vim.uri_from_fname(place.path),
    position = { line = place.line - 1, character = compat.utf16_index(line, place.col) },
    reason = reason,
  })
end

-- Decides whether the move from `prev` to `cur` was a visit, and with which reason.
local function reason_for(prev, cur)
  local opened = fresh[cur.buf]
  if next(fresh) then
    fresh = {}
  end
  if not prev or cur.path ~= prev.path or cur.win ~= prev.win then
    seen = jumplist_state(cur.win)
    if not prev then
      return take_pending() or (opened and "open" or "switch")
    end
    local tagged = cur.win == prev.win and cur.tagidx > prev.tagidx
    if cur.path ~= prev.path then
      return take_pending() or (tagged and "tag") or (opened and "open") or "switch"
    end
    -- Another window on the same file: a visit if it is far from where we were.
    local threshold = config.options.jump_lines
    if threshold > 0 and math.abs(cur.line - prev.line) >= threshold then
      return take_pending() or "switch"
    end
    return nil
  end
  local threshold = config.options.jump_lines
  if threshold == 0 or math.abs(cur.line - prev.line) < threshold then
    return nil
  end
  local now = jumplist_state(cur.win)
  local was_jump = jumped(prev, now)
  seen = now
  if was_jump then
    return take_pending() or (cur.tagidx > prev.tagidx and "tag") or "jump"
  end
  return nil
end

function M.check()
  scheduled = false
  if moving > 0 then
    return
  end
  local prev = last
  local cur = here(prev)
  if not cur then
    return
  end
  last = cur
  client.ensure(cur.root, cur.buf)
  local reason = reason_for(prev, cur)
  if reason then
    send(cur, reason)
  end
end

local function schedule_check()
  if not scheduled then
    scheduled = true
    vim.schedule(M.check)
  end
end

-- Runs `fn`, a move the plugin makes, so that where it lands is not reported as a visit.
function M.moving(fn)
  seen = jumplist_state(M.target_window())
  moving = moving + 1
  local ok, err = pcall(fn)
  moving = moving - 1
  fresh = {}
  pending = nil
  last = here() or last
  if not ok then
    error(err, 0)
  end
end

-- The window that moves should happen in: the current one if it shows a file, else the
-- window of the last place recorded (when the command is given from the tree or a list).
function M.target_window()
  local win = vim.api.nvim_get_current_win()
  if client.file_of(vim.api.nvim_win_get_buf(win)) then
    return win
  end
  if last and vim.api.nvim_win_is_valid(last.win) then
    return last.win
  end
  return win
end

function M.last_place()
  return last
end

-- Wraps the LSP location handlers (Neovim 0.7 to 0.10 route go-to-definition through them)
-- so that their jumps carry their reason. Newer Neovims announce requests with the
-- LspRequest autocommand instead, handled in `start()`.
local wrapped = false
local function wrap_lsp_handlers()
  if wrapped then
    return
  end
  wrapped = true
  for method in pairs(lsp_reasons) do
    local original = vim.lsp.handlers[method]
    if type(original) == "function" then
      vim.lsp.handlers[method] = function(err, result, ctx, conf)
        if not err and result then
          M.announce(method)
        end
        return original(err, result, ctx, conf)
      end
    end
  end
end

function M.start()
  if group then
    return
  end
  group = vim.api.nvim_create_augroup("retrace", { clear = true })
  vim.api.nvim_create_autocmd({ "BufEnter", "WinEnter", "CursorMoved" }, {
    group = group,
    callback = schedule_check,
  })
  vim.api.nvim_create_autocmd({ "BufReadPost", "BufNewFile" }, {
    group = group,
    callback = function(args)
      fresh[args.buf] = true
    end,
  })
  vim.api.nvim_create_autocmd({ "BufWipeout", "BufFilePost" }, {
    group = group,
    callback = function(args)
      client.forget_buffer(args.buf)
    end,
  })
  vim.api.nvim_create_autocmd("DirChanged", {
    group = group,
    callback = client.forget_roots,
  })
  if compat.has("0.10") then
    vim.api.nvim_create_autocmd("LspRequest", {
      group = group,
      callback = function(args)
        local request = args.data and args.data.request
        if request and request.type == "complete" then
          M.announce(request.method)
        end
      end,
    })
  end
  wrap_lsp_handlers()
  schedule_check()
end

function M.stop()
  if group then
    vim.api.nvim_del_augroup_by_id(group)
    group = nil
  end
  last = nil
end

return M
