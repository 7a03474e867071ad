-- :checkhealth retrace: the binary, its version, the history database, the client.
local client = require("retrace.client")
local compat = require("retrace.compat")
local config = require("retrace.config")
local version = require("retrace.version")

local M = {}

-- Runs a command and returns its output, or nil and the reason it failed.
local function run(cmd)
  local output = vim.fn.system(cmd)
  if vim.v.shell_error ~= 0 then
    return nil, vim.trim(output)
  end
  return vim.trim(output)
end

-- The workspace to report on: that of the file last visited (:checkhealth opens its own
-- buffer, so the current one says nothing), else the current directory's.
local function workspace()
  local last = require("retrace.tracker").last_place()
  if last then
    return last.root, last.buf
  end
  return client.current_root(), nil
end

function M.check()
  local h = compat.health()

  h.start("Neovim")
  if compat.has("0.7") then
    h.ok("Neovim " .. tostring(vim.version().major) .. "." .. vim.version().minor .. "." .. vim.version().patch)
  else
    h.error("Neovim 0.7 or newer is needed", { "Upgrade Neovim" })
  end

  h.start("retrace-lsp")
  local exe, wanted = client.binary()
  if not exe then
    h.error(("retrace-lsp not found (looked for %s)"):format(wanted), {
      "Install it from the Retrace repository: cargo install --path lsp-server",
      "or point the plugin at it: require('retrace').setup({ binary = '/path/to/retrace-lsp' })",
    })
    return
  end
  h.ok("binary: " .. exe)
  local out, err = run({ exe, "--version" })
  if not out then
    h.error(("`%s --version` failed: %s"):format(exe, err or "?"), { "Reinstall retrace-lsp" })
    return
  end
  if version.at_least(out, version.MINIMUM) then
    h.ok(("version: %s (at least %s)"):format(out, version.MINIMUM))
  else
    h.error(("version: %s is older than %s"):format(out, version.MINIMUM), {
      "Update it from the Retrace repository: cargo install --path lsp-server",
    })
  end

  h.start("history")
  local root, bufnr = workspace()
  h.info("workspace: " .. root)
  local db, db_err = run({ exe, "db-path", "--workspace", root })
  if not db then
    h.error("cannot locate the history database: " .. (db_err or "?"))
  elseif compat.uv.fs_stat(db) then
    h.ok("database: " .. db)
  else
    h.info("database: " .. db .. " (not created yet: visit a file of the workspace)")
  end

  h.start("client")
  local ws = client.workspace(root)
  local running = client.client(root)
  if ws and ws.failed then
    h.error(ws.failed, { ":RetraceStart starts it again" })
  elseif running then
    h.ok(("client %d is running for %s"):format(running.id, root))
    if bufnr and vim.api.nvim_buf_is_valid(bufnr) then
      local attached = vim.lsp.buf_is_attached(bufnr, running.id)
      local name = vim.fn.fnamemodify(vim.api.nvim_buf_get_name(bufnr), ":~:.")
      if attached then
        h.ok("attached to " .. name)
      else
        h.warn("not attached to " .. name, { "Open the file again, or :RetraceStart" })
      end
    end
  elseif config.options.autostart then
    h.warn("no client is running for " .. root, {
      "Call require('retrace').setup() in your config, then open a file of the workspace",
    })
  else
    h.info("autostart is off: :RetraceStart starts recording")
  end

  local has_telescope = pcall(require, "telescope")
  h.info(has_telescope and "Telescope found: :RetraceJump without a node uses it"
    or "Telescope not found: pickers use vim.ui.select")
end

return M
