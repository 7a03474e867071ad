-- The differences between the Neovim versions the plugin runs on (0.7.2 and newer), kept in
-- one place so the rest reads the same on all of them.
local M = {}

local has = {}

-- libuv: `vim.uv` from 0.10 on (`vim.loop` is its deprecated name there).
M.uv = vim.uv or vim.loop

-- Whether Neovim is at least `version` ("0.11"); asked of Neovim once per version, as it is
-- asked on every cursor move (through `call`).
function M.has(version)
  local yes = has[version]
  if yes == nil then
    yes = vim.fn.has("nvim-" .. version) == 1
    has[version] = yes
  end
  return yes
end

-- Calls a method of an LSP client: `client.request(...)` before 0.11, `client:request(...)`
-- from 0.11 on (the dot form is deprecated there).
function M.call(client, method, ...)
  if M.has("0.11") then
    return client[method](client, ...)
  end
  return client[method](...)
end

-- The plugin keeps one client per root itself; vim.lsp.start() must not hand back another
-- client of the same root instead (one still shutting down after :RetraceStop, say), whose
-- `on_init` has already run.
local function never()
  return false
end

-- Starts an LSP client and attaches it to `bufnr` when given; returns its id or nil.
-- vim.lsp.start() from 0.8 on (vim.lsp.start_client() is deprecated, and warns from 0.12);
-- before 0.11 it cannot start a client without attaching a buffer, so start_client() does.
function M.start_client(config, bufnr)
  if M.has("0.11") then
    return vim.lsp.start(config, { bufnr = bufnr, attach = bufnr ~= nil, reuse_client = never })
  end
  if vim.lsp.start and bufnr then
    return vim.lsp.start(config, { bufnr = bufnr, reuse_client = never })
  end
  local id = vim.lsp.start_client(config)
  if id and bufnr then
    vim.lsp.buf_attach_client(bufnr, id)
  end
  return id
end

-- The UTF-16 index (LSP's `character`) of byte offset `byte` in `line`.
function M.utf16_index(line, byte)
  byte = math.min(byte, #line)
  local ok, index
  if M.has("0.11") then
    ok, index = pcall(vim.str_utfindex, line, "utf-16", byte, false)
  else
    ok, index = pcall(function()
      local _, utf16 = vim.str_utfindex(line, byte)
      return utf16
    end)
  end
  return ok and index or byte
end

-- The byte offset of UTF-16 index `index` in `line` (clamped to the line).
function M.byte_index(line, index)
  local ok, byte
  if M.has("0.11") then
    ok, byte = pcall(vim.str_byteindex, line, "utf-16", index, false)
  else
    ok, byte = pcall(vim.str_byteindex, line, index, true)
  end
  if not ok or not byte then
    return math.min(index, #line)
  end
  return math.min(byte, #line)
end

-- The path with symlinks resolved when the file exists (the server resolves the root the
-- same way, so both spell a file alike).
function M.realpath(path)
  local real = M.uv.fs_realpath(path)
  if real then
    return real
  end
  local dir = M.uv.fs_realpath(vim.fn.fnamemodify(path, ":h"))
  return dir and (dir .. "/" .. vim.fn.fnamemodify(path, ":t")) or path
end

-- Checks settings, as `vim.validate(spec)` did: `spec` maps a name to {value, type or
-- function, optional} or {value, function, message}. From 0.11 on the table form is
-- deprecated; each setting is checked with `vim.validate(name, value, validator, ...)`.
function M.validate(spec)
  if not M.has("0.11") then
    return vim.validate(spec)
  end
  for name, s in pairs(spec) do
    if type(s[3]) == "string" then
      vim.validate(name, s[1], s[2], false, s[3])
    else
      vim.validate(name, s[1], s[2], s[3])
    end
  end
end

-- :checkhealth reporting: `vim.health.start/ok/...` on 0.9+, `require("health").report_*`
-- on 0.7 and 0.8.
function M.health()
  local h = vim.health or require("health")
  return {
    start = h.start or h.report_start,
    ok = h.ok or h.report_ok,
    info = h.info or h.report_info,
    warn = h.warn or h.report_warn,
    error = h.error or h.report_error,
  }
end

return M
