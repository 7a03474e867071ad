-- retrace: navigation history as a tree, kept by retrace-lsp. See :help retrace.
--
-- This module is the plugin's surface: setup(), and what the commands do. It asks the
-- server to move (back, forward, jump) and then moves the editor where the server says,
-- without that move being reported back as a visit.
local client = require("retrace.client")
local config = require("retrace.config")
local show = require("retrace.show")
local tracker = require("retrace.tracker")

-- The server's window/showDocument requests move the editor as the plugin's own moves do.
client.on_show_document(show.document)

local M = {}

local did_setup = false

local function notify(message, level)
  vim.notify(message, level or vim.log.levels.INFO, { title = "retrace" })
end

-- Configures the plugin and, unless `autostart = false`, starts recording visits.
-- See :help retrace-setup for the options.
function M.setup(opts)
  config.set(opts)
  did_setup = true
  if config.options.autostart then
    tracker.start()
  end
end

local function ensure_setup()
  if not did_setup then
    M.setup({})
  end
end

-- Carries out an Outcome whose status is not `choose`, for the server of `root`.
local function apply(root, outcome)
  if type(outcome) ~= "table" then
    return
  end
  if outcome.status == "moved" then
    if not outcome.location then
      -- The node's file was deleted; the message says so.
      notify("retrace: " .. outcome.message, vim.log.levels.WARN)
      return
    end
    if client.server_moves_editor(root) then
      -- Its window/showDocument request moves the editor (show.document).
      return
    end
    local ok, err = pcall(show.location, outcome.location)
    if not ok then
      notify(("retrace: could not open %s: %s"):format(outcome.message, err), vim.log.levels.ERROR)
    end
  else
    -- at-root, at-leaf, empty: nothing moved.
    notify("retrace: " .. (outcome.message or outcome.status))
  end
end

-- The text of a node's line, for pickers: from the buffer if loaded, else from the file.
-- `files` (path -> its lines, or false) keeps the files read for one list of nodes, so that
-- each is read once, not once per node.
function M.preview(node, files)
  if node.gone then
    return "[deleted]"
  end
  local path = vim.uri_to_fname(node.uri)
  local bufnr = vim.fn.bufnr(path)
  local text
  if bufnr > 0 and vim.api.nvim_buf_is_loaded(bufnr) then
    text = vim.api.nvim_buf_get_lines(bufnr, node.line, node.line + 1, false)[1]
  else
    files = files or {}
    if files[path] == nil then
      local ok, lines = pcall(vim.fn.readfile, path)
      files[path] = ok and lines or false
    end
    text = files[path] and files[path][node.line + 1]
  end
  text = vim.trim(text or "")
  if #text > 80 then
    text = text:sub(1, 77) .. "..."
  end
  return text
end

-- "src/a.rs:42  fn main() {" for a node of the JSON tree or an Outcome (`files` as for
-- `preview`).
function M.describe(node, files)
  return ("%s:%d  %s"):format(node.path, node.line + 1, M.preview(node, files))
end

-- Asks which branch to take (most recent first, as the server lists them) and takes it.
local function choose_branch(root, outcome)
  local files = {}
  vim.ui.select(outcome.choices or {}, {
    prompt = "Retrace: forward to",
    kind = "retrace.branch",
    format_item = function(node)
      return M.describe(node, files)
    end,
  }, function(node)
    if node then
      client.command(root, "retrace.forward", { node = node.id }, function(taken)
        apply(root, taken)
      end)
    end
  end)
end

-- Runs `command` `count` times, moving the editor once, to where the last step landed.
local function repeat_move(root, command, argument, count)
  local function step(left, moved)
    client.command(root, command, argument, function(outcome)
      if outcome.status == "moved" and left > 1 then
        return step(left - 1, outcome)
      end
      if outcome.status == "choose" then
        if moved then
          apply(root, moved)
        end
        return choose_branch(root, outcome)
      end
      if outcome.status ~= "moved" and moved then
        return apply(root, moved)
      end
      apply(root, outcome)
    end)
  end
  step(math.max(count or 1, 1))
end

-- :RetraceBack: to the parent of the current place, `count` times.
function M.back(count)
  ensure_setup()
  repeat_move(client.current_root(), "retrace.back", nil, count)
end

-- :RetraceForward: to the only child; where the history branches, asks (or, with
-- `latest` or forward_policy = "latest", takes the most recent branch).
function M.forward(count, latest)
  ensure_setup()
  local argument = latest and { policy = "latest" } or nil
  repeat_move(client.current_root(), "retrace.forward", argument, count)
end

-- The JSON tree's nodes, most recently visited first.
function M.nodes(root, callback)
  client.command(root, "retrace.tree", { format = "json" }, function(tree)
    local nodes = vim.deepcopy(tree.nodes or {})
    table.sort(nodes, function(a, b)
      if a.visitedMs ~= b.visitedMs then
        return a.visitedMs > b.visitedMs
      end
      return a.id > b.id
    end)
    callback(nodes, tree)
  end)
end

local function pick_node(root)
  local has_telescope = pcall(require, "telescope")
  if has_telescope then
    return require("retrace.telescope").nodes({ root = root })
  end
  M.nodes(root, function(nodes, tree)
    local files = {}
    vim.ui.select(nodes, {
      prompt = "Retrace: jump to",
      kind = "retrace.node",
      format_item = function(node)
        local mark = node.id == tree.current and "  <- current" or ""
        return ("#%d %s (%s)%s"):format(node.id, M.describe(node, files), node.reason, mark)
      end,
    }, function(node)
      if node then
        M.jump(node.id, root)
      end
    end)
  end)
end

-- :RetraceJump {node}: to any node of the tree ("12" or "#12"). Without a node, a picker
-- (Telescope when installed, else vim.ui.select) lists them all.
function M.jump(node, root)
  ensure_setup()
  root = root or client.current_root()
  if node == nil or node == "" then
    return pick_node(root)
  end
  local id = tonumber(type(node) == "number" and node or tostring(node):match("^#?(%d+)$"))
  if not id then
    notify(("retrace: %s is not a node; give its number, as in :RetraceJump 12"):format(node), vim.log.levels.ERROR)
    return
  end
  client.command(root, "retrace.jump", { node = id }, function(outcome)
    apply(root, outcome)
  end)
end

-- :RetraceTree: the tree in a scratch window; <CR> jumps to the node under the cursor.
function M.tree()
  ensure_setup()
  require("retrace.tree").open(client.current_root())
end

-- :RetraceStatus: where the history stands.
function M.status()
  ensure_setup()
  client.command(client.current_root(), "retrace.status", nil, function(s)
    local at = s.node and ("%s:%d"):format(s.node.path, s.node.line + 1) or "nowhere yet"
    notify(("retrace: at %s, depth %d, %d branch%s here; %d nodes, %d session%s\nhistory of %s in %s"):format(
      at,
      s.depth,
      s.branches,
      s.branches == 1 and "" or "es",
      s.nodes,
      s.sessions,
      s.sessions == 1 and "" or "s",
      s.workspace,
      s.database
    ))
  end)
end

-- :RetraceStart: (re)starts recording, also after a failure or :RetraceStop.
function M.start()
  ensure_setup()
  client.reset_failures()
  tracker.start()
end

-- :RetraceStop: stops recording and the servers.
function M.stop()
  tracker.stop()
  client.stop_all()
end

return M
