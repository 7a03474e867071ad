-- One retrace-lsp client per workspace root: finding the root of a file, starting the
-- server, attaching buffers, and the two things the plugin says to it (visits and commands).
-- Everything about the history itself is the server's business.
local compat = require("retrace.compat")
local config = require("retrace.config")
local version = require("retrace.version")

local M = {}

M.NAME = "retrace"

-- root -> { id = client id, ready = bool, queue = {fn}, buffers = {bufnr = true},
--           failed = message (set when the server is unusable; cleared by :RetraceStart) }
local workspaces = {}
-- bufnr -> { name = buffer name, root = root or false }
local roots = {}
local said = {}
local listeners = {}
-- What answers the server's window/showDocument requests (see `on_show_document`).
local show_document = nil

local function notify(message, level)
  vim.notify(message, level or vim.log.levels.INFO, { title = "retrace" })
end

-- Says why the server cannot be used: every time in answer to a command, else once per
-- Neovim session (a missing binary is met on every BufEnter).
local function report(problem, every_time)
  if every_time or not said[problem] then
    said[problem] = true
    notify(problem, vim.log.levels.ERROR)
  end
end

local function inside(path, dir)
  return dir == "/" or path == dir or vim.startswith(path, dir .. "/")
end

-- The workspace root of an absolute, resolved path: the nearest directory above it holding
-- a root marker, else the current directory if the path is inside it, else nil.
function M.root_of(path)
  local dir = vim.fn.fnamemodify(path, ":h")
  while true do
    for _, marker in ipairs(config.options.root_markers) do
      if compat.uv.fs_stat(dir .. "/" .. marker) then
        return dir
      end
    end
    local parent = vim.fn.fnamemodify(dir, ":h")
    if parent == dir then
      break
    end
    dir = parent
  end
  local cwd = compat.realpath(vim.fn.getcwd())
  if inside(path, cwd) then
    return cwd
  end
  return nil
end

-- The file a buffer holds, if it is one the history can record: a normal buffer (no
-- 'buftype') named by a path, not by a URI such as fugitive:// or term://.
function M.file_of(bufnr)
  if not vim.api.nvim_buf_is_valid(bufnr) or vim.bo[bufnr].buftype ~= "" then
    return nil
  end
  local name = vim.api.nvim_buf_get_name(bufnr)
  if name == "" or name:match("^%a[%w+.-]*://") then
    return nil
  end
  return name
end

-- The resolved path and root of a buffer's file, cached per buffer name.
function M.place_of(bufnr)
  local name = M.file_of(bufnr)
  if not name then
    return nil
  end
  local cached = roots[bufnr]
  if not cached or cached.name ~= name then
    local path = compat.realpath(name)
    cached = { name = name, path = path, root = M.root_of(path) or false }
    roots[bufnr] = cached
  end
  if not cached.root then
    return nil
  end
  return cached.path, cached.root
end

-- The place `place_of` found for a buffer, as long as neither the buffer was renamed nor
-- the current directory changed since; nil otherwise. Unlike `place_of`, it does not look
-- at the buffer's 'buftype' again (the costly part on every cursor move).
function M.cached_place(bufnr)
  local cached = roots[bufnr]
  if cached and cached.root and cached.name == vim.api.nvim_buf_get_name(bufnr) then
    return cached.path, cached.root
  end
  return nil
end

function M.forget_buffer(bufnr)
  roots[bufnr] = nil
  for _, ws in pairs(workspaces) do
    ws.buffers[bufnr] = nil
  end
end

-- Roots change meaning with the current directory (the fallback root).
function M.forget_roots()
  roots = {}
end

-- The root for commands given from the current buffer: its file's, else the current
-- directory's.
function M.current_root()
  local _, root = M.place_of(vim.api.nvim_get_current_buf())
  if root then
    return root
  end
  local cwd = compat.realpath(vim.fn.getcwd())
  return M.root_of(cwd .. "/.") or cwd
end

-- The retrace-lsp executable: the configured path, or the one on PATH. Returns nil and the
-- name looked for when there is none.
function M.binary()
  local wanted = config.options.binary or "retrace-lsp"
  local found = vim.fn.exepath(wanted)
  if found == "" then
    return nil, wanted
  end
  return found, wanted
end

function M.missing_message(wanted)
  return ("retrace: cannot find the retrace-lsp binary (%s). Install it from the Retrace "
    .. "repository with `cargo install --path lsp-server`, or set `binary` in "
    .. "require('retrace').setup()."):format(wanted)
end

function M.too_old_message(found, have)
  return ("retrace: %s is version %s, older than %s, the oldest this plugin works with. "
    .. "Update it with `cargo install --path lsp-server` from the Retrace repository."):format(
    found,
    have or "unknown",
    version.MINIMUM
  )
end

-- Problems with the server that answered `initialize`, or nil.
local function check_server(result, exe)
  local info = result and result.serverInfo
  if not info or info.name ~= "retrace-lsp" then
    return ("retrace: %s is not retrace-lsp (it answered as %s)"):format(
      exe,
      info and info.name or "an unnamed server"
    )
  end
  if not version.at_least(info.version) then
    return M.too_old_message(exe, info.version)
  end
  return nil
end

local function live_client(ws)
  if not ws or not ws.id then
    return nil
  end
  local client = vim.lsp.get_client_by_id(ws.id)
  if not client or compat.call(client, "is_stopped") then
    return nil
  end
  return client
end

function M.client(root)
  return live_client(workspaces[root])
end

function M.workspace(root)
  return workspaces[root]
end

-- Calls `fn(root, params)` on every `retrace/treeChanged`.
function M.on_change(fn)
  table.insert(listeners, fn)
end

-- Sets what answers the server's `window/showDocument` requests: `fn(err, params, ctx,
-- config)` returning a ShowDocumentResult (retrace.show's `document`).
function M.on_show_document(fn)
  show_document = fn
end

-- Whether the server of `root` moves the editor itself after a command (the user asked for
-- it with `server_options.showDocument`; the plugin always says it can show documents).
function M.server_moves_editor(root)
  local ws = workspaces[root]
  return ws ~= nil and ws.server_moves == true
end

-- The initializationOptions: the user's `server_options`, then the plugin's own.
local function init_options()
  return vim.tbl_extend("force", vim.deepcopy(config.options.server_options), {
    -- The plugin reports visits itself, so opening a buffer is not one.
    sendsVisits = true,
    notifyChanges = true,
    forwardPolicy = config.options.forward_policy,
  })
end

-- Neovim's client capabilities, saying that the plugin handles window/showDocument
-- (Neovim 0.7 says it does not).
local function capabilities()
  return vim.tbl_deep_extend("force", vim.lsp.protocol.make_client_capabilities(), {
    window = { showDocument = { support = true } },
  })
end

local function answer_show_document(err, params, ctx, handler_config)
  if not show_document then
    return { success = false }
  end
  return show_document(err, params, ctx, handler_config)
end

-- Starts the client of `root`; its workspace state, or nil and why it cannot be started.
local function start(root, bufnr)
  local exe, wanted = M.binary()
  if not exe then
    return nil, M.missing_message(wanted)
  end
  local options = init_options()
  local ws = { ready = false, queue = {}, buffers = {}, server_moves = options.showDocument == true }
  workspaces[root] = ws
  local conf = {
    name = M.NAME,
    cmd = { exe, "--stdio" },
    root_dir = root,
    workspace_folders = {
      { uri = vim.uri_from_fname(root), name = vim.fn.fnamemodify(root, ":t") },
    },
    init_options = options,
    capabilities = capabilities(),
    handlers = {
      ["window/showDocument"] = answer_show_document,
      ["retrace/treeChanged"] = function(_, params)
        for _, fn in ipairs(listeners) do
          pcall(fn, root, params or {})
        end
      end,
    },
    on_init = function(client, result)
      local problem = check_server(result, exe)
      if problem then
        ws.failed = problem
        ws.queue = {}
        report(problem)
        compat.call(client, "stop")
        return
      end
      ws.ready = true
      local queue = ws.queue
      ws.queue = {}
      for _, fn in ipairs(queue) do
        fn(client)
      end
    end,
    on_exit = vim.schedule_wrap(function(code, signal, id)
      if ws.id ~= id then
        return
      end
      ws.ready = false
      ws.buffers = {}
      if (code ~= 0 or signal ~= 0) and not ws.stopping and not ws.failed then
        ws.failed = ("retrace: retrace-lsp for %s exited (code %d, signal %d); recording "
          .. "stopped. Its messages are in the LSP log (%s); :RetraceStart starts it again."):format(
          root,
          code,
          signal,
          vim.lsp.get_log_path()
        )
        report(ws.failed)
      end
    end),
  }
  ws.id = compat.start_client(conf, bufnr)
  if not ws.id then
    workspaces[root] = nil
    return nil, ("retrace: could not start %s for %s"):format(exe, root)
  end
  if bufnr then
    ws.buffers[bufnr] = true
  end
  return ws
end

-- The workspace state of `root`, starting its client if needed; nil and why when the
-- server cannot be used. `bufnr`, when given, is attached.
local function usable(root, bufnr)
  local ws = workspaces[root]
  if ws and ws.failed then
    return nil, ws.failed
  end
  if not live_client(ws) then
    local problem
    ws, problem = start(root, bufnr)
    if not ws then
      return nil, problem
    end
  end
  if bufnr and not ws.buffers[bufnr] and vim.api.nvim_buf_is_loaded(bufnr) then
    vim.lsp.buf_attach_client(bufnr, ws.id)
    ws.buffers[bufnr] = true
  end
  return ws
end

-- The workspace state of `root` for what happens on its own (the tracker, visits): as
-- `usable`, saying once why the server cannot be used.
function M.ensure(root, bufnr)
  local ws, problem = usable(root, bufnr)
  if not ws then
    report(problem)
  end
  return ws
end

-- Runs `fn(client)` once the server of `ws` has answered `initialize`.
local function when_ready(ws, fn)
  if ws.ready then
    local client = live_client(ws)
    if client then
      fn(client)
    end
  else
    table.insert(ws.queue, fn)
  end
end

-- Tells the server the user arrived at a place by a jump.
function M.visit(root, params)
  local ws = M.ensure(root)
  if not ws then
    return
  end
  when_ready(ws, function(client)
    compat.call(client, "notify", "retrace/visit", params)
  end)
end

-- Runs a server command; `callback(result)` gets its result. Errors are shown, not passed.
function M.command(root, command, argument, callback)
  local ws, problem = usable(root)
  if not ws then
    report(problem, true)
    return
  end
  local params = { command = command, arguments = argument and { argument } or {} }
  when_ready(ws, function(client)
    compat.call(client, "request", "workspace/executeCommand", params, function(err, result)
      if err then
        notify(("retrace: %s failed: %s"):format(command, err.message or vim.inspect(err)), vim.log.levels.ERROR)
        return
      end
      callback(result)
    end)
  end)
end

-- Stops every client (on :RetraceStop); their buffers stay as they are.
function M.stop_all()
  for _, ws in pairs(workspaces) do
    ws.stopping = true
    local client = live_client(ws)
    if client then
      compat.call(client, "stop")
    end
  end
  workspaces = {}
end

-- Forgets failures, so the next use starts the server again (on :RetraceStart).
function M.reset_failures()
  said = {}
  for root, ws in pairs(workspaces) do
    if ws.failed then
      workspaces[root] = nil
    end
  end
end

return M
