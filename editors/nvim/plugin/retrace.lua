-- retrace: navigation history as a tree (see :help retrace). The commands only; the plugin
-- starts recording when require("retrace").setup() is called (the commands call it with
-- the defaults if it was not).
if vim.g.loaded_retrace then
  return
end
vim.g.loaded_retrace = true

if vim.fn.has("nvim-0.7") ~= 1 then
  vim.api.nvim_echo({ { "retrace needs Neovim 0.7 or newer", "ErrorMsg" } }, true, {})
  return
end

local function retrace()
  return require("retrace")
end

local command = vim.api.nvim_create_user_command

command("RetraceBack", function(opts)
  retrace().back(opts.count)
end, { count = 1, desc = "retrace: back to where you came from" })

command("RetraceForward", function(opts)
  retrace().forward(opts.count, opts.bang)
end, { count = 1, bang = true, desc = "retrace: forward again (! takes the latest branch)" })

command("RetraceJump", function(opts)
  retrace().jump(opts.args)
end, { nargs = "?", desc = "retrace: jump to a node of the tree" })

command("RetraceTree", function()
  retrace().tree()
end, { desc = "retrace: show the navigation tree" })

command("RetraceStatus", function()
  retrace().status()
end, { desc = "retrace: where the history stands" })

command("RetraceStart", function()
  retrace().start()
end, { desc = "retrace: start recording" })

command("RetraceStop", function()
  retrace().stop()
end, { desc = "retrace: stop recording and the server" })
