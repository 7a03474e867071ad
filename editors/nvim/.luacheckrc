-- luacheck configuration for the Neovim plugin (and the test support file).
std = "luajit"
globals = { "vim", "T" }
max_line_length = 120
