-- The plugin's settings: defaults, and the checks `setup()` runs on what the user passed.
local compat = require("retrace.compat")

local M = {}

M.defaults = {
  -- Path to retrace-lsp; nil looks for `retrace-lsp` on PATH.
  binary = nil,
  -- Start a client for the workspace of every file buffer and record visits. With false,
  -- nothing happens until :RetraceStart.
  autostart = true,
  -- A workspace root is the nearest directory above a file holding one of these; failing
  -- that, the current directory when the file is inside it.
  root_markers = { ".git", ".hg", ".svn", ".jj" },
  -- What :RetraceForward does where the history branches: "ask" (vim.ui.select) or
  -- "latest" (the most recently visited branch). :RetraceForward! always takes the latest.
  forward_policy = "ask",
  -- Moves made by :RetraceBack/Forward/Jump leave Neovim's own jumplist alone.
  keepjumps = true,
  -- A jump (a motion that sets the jumplist: G, /, n, %, gd, LSP, tags...) of at least this
  -- many lines within a file is a visit. 0 records only arrivals in another file.
  jump_lines = 10,
  -- More initializationOptions for retrace-lsp (lsp-server/PROTOCOL.md), such as
  -- { recordOutsideWorkspace = true, nodeLimit = 100000 }. The plugin's own (sendsVisits,
  -- notifyChanges, forwardPolicy) are set from the settings above. With
  -- { showDocument = true } the server moves the editor itself (window/showDocument)
  -- after :RetraceBack/Forward/Jump, and the plugin leaves those moves to it.
  server_options = {},
  tree = {
    -- "split" (a window at the bottom) or "float".
    layout = "split",
    -- Height of the split, at most; the float takes most of the editor.
    height = 15,
  },
}

local function validate(opts)
  compat.validate({
    binary = { opts.binary, "string", true },
    autostart = { opts.autostart, "boolean" },
    root_markers = { opts.root_markers, "table" },
    forward_policy = {
      opts.forward_policy,
      function(v)
        return v == "ask" or v == "latest"
      end,
      '"ask" or "latest"',
    },
    keepjumps = { opts.keepjumps, "boolean" },
    jump_lines = {
      opts.jump_lines,
      function(v)
        return type(v) == "number" and v >= 0
      end,
      "a number of lines, 0 or more",
    },
    server_options = { opts.server_options, "table" },
    tree = { opts.tree, "table" },
    ["tree.layout"] = {
      opts.tree.layout,
      function(v)
        return v == "split" or v == "float"
      end,
      '"split" or "float"',
    },
    ["tree.height"] = { opts.tree.height, "number" },
  })
end

M.options = vim.deepcopy(M.defaults)

-- Merges `opts` over the defaults. Raises an error naming the bad setting.
function M.set(opts)
  local merged = vim.tbl_deep_extend("force", vim.deepcopy(M.defaults), opts or {})
  validate(merged)
  M.options = merged
  return merged
end

return M
