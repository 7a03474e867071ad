-- Loaded into the Neovim under test: small helpers the Python tests call through exec_lua.
local T = {}
_G.T = T

T.messages = {}
vim.notify = function(message, level)
  table.insert(T.messages, { message = message, level = level or vim.log.levels.INFO })
end

-- vim.ui.select answered by the test: records what was offered, picks `T.pick` (1-based).
T.offered = nil
T.pick = nil
vim.ui.select = function(items, opts, on_choice)
  T.offered = {}
  for _, item in ipairs(items) do
    table.insert(T.offered, opts.format_item and opts.format_item(item) or tostring(item))
  end
  T.prompt = opts.prompt
  on_choice(T.pick and items[T.pick] or nil, T.pick)
end

-- Client methods are called as client:m() from 0.11 on (client.m() is deprecated there).
local colon = vim.fn.has("nvim-0.11") == 1

-- The LSP clients, by name (vim.lsp.get_clients from 0.10 on).
function T.clients(name)
  local all = (vim.fn.has("nvim-0.10") == 1 and vim.lsp.get_clients or vim.lsp.get_active_clients)()
  local out = {}
  for _, c in pairs(all) do
    if name == nil or c.name == name then
      table.insert(out, c)
    end
  end
  return out
end

-- The process ids of the retrace servers.
function T.server_pids()
  local pids = {}
  for _, c in ipairs(T.clients("retrace")) do
    table.insert(pids, c.rpc.pid)
  end
  return pids
end

local function retrace_client()
  local client = require("retrace.client").client(require("retrace.client").current_root())
  assert(client, "no retrace client")
  return client
end

-- Counts the retrace/visit notifications the plugin sends (wraps the client's notify).
T.visits_sent = {}
function T.spy_on_visits()
  local client = retrace_client()
  local notify = client.notify
  client.notify = function(...)
    local args = { ... }
    local method, params = args[colon and 2 or 1], args[colon and 3 or 2]
    if method == "retrace/visit" then
      table.insert(T.visits_sent, params)
    end
    return notify(...)
  end
end

-- Records the window/showDocument requests the server sends, and the plugin's answers.
T.shown = {}
function T.spy_on_show_document()
  local handlers = retrace_client().handlers
  local handler = handlers["window/showDocument"]
  assert(handler, "the retrace client has no window/showDocument handler")
  handlers["window/showDocument"] = function(err, params, ...)
    local result = handler(err, params, ...)
    table.insert(T.shown, { uri = params.uri, line = params.selection.start.line, result = result })
    return result
  end
end

-- Starts another language server attached to the current buffer; returns its client id.
function T.start_other(name, cmd)
  local config = { name = name, cmd = cmd, root_dir = vim.fn.getcwd() }
  if vim.lsp.start then
    return vim.lsp.start(config, { bufnr = 0 })
  end
  local id = vim.lsp.start_client(config)
  vim.lsp.buf_attach_client(0, id)
  return id
end

function T.stop_client(id)
  local client = vim.lsp.get_client_by_id(id)
  if client then
    if colon then
      client:stop(true)
    else
      client.stop(true)
    end
  end
end

-- What shows that deprecated API was used: messages saying so, and from 0.10 on what
-- `:checkhealth vim.deprecated` lists (every use, also of what does not warn yet).
function T.deprecations()
  local out = {}
  for _, m in ipairs(T.messages) do
    if m.message:lower():find("deprecat") then
      table.insert(out, m.message)
    end
  end
  for _, line in ipairs(vim.split(vim.fn.execute("messages"), "\n", { plain = true })) do
    if line:lower():find("deprecat") then
      table.insert(out, line)
    end
  end
  if vim.fn.has("nvim-0.10") == 1 then
    vim.cmd("checkhealth vim.deprecated")
    local report = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), "\n")
    if not report:find("No deprecated functions detected", 1, true) then
      table.insert(out, report)
    end
  end
  return out
end

-- Counts the files read with readfile() (the pickers' previews), by path.
function T.count_reads()
  T.reads = {}
  local readfile = vim.fn.readfile
  vim.fn.readfile = function(path, ...)
    T.reads[path] = (T.reads[path] or 0) + 1
    return readfile(path, ...)
  end
end

-- A server command through the plugin's own client, synchronously.
function T.command(name, argument)
  local client = retrace_client()
  local params = { command = name, arguments = argument and { argument } or {} }
  local reply
  if colon then
    reply = client:request_sync("workspace/executeCommand", params, 5000)
  else
    reply = client.request_sync("workspace/executeCommand", params, 5000)
  end
  assert(reply and not reply.err, vim.inspect(reply))
  return reply.result
end

function T.place()
  local name = vim.api.nvim_buf_get_name(0)
  return { path = name, line = vim.fn.line("."), col = vim.fn.col(".") }
end

function T.ready()
  local c = require("retrace.client")
  local ws = c.workspace(c.current_root())
  return ws ~= nil and ws.ready == true
end


-- A stand-in for telescope.nvim: records the picker the plugin builds, so a test can look
-- at its entries and press <CR> on one.
function T.fake_telescope()
  T.picker = nil
  package.preload["telescope"] = function()
    return {
      register_extension = function(ext)
        return ext
      end,
    }
  end
  package.preload["telescope.pickers"] = function()
    return {
      new = function(_, spec)
        return {
          find = function()
            T.picker = spec
          end,
        }
      end,
    }
  end
  package.preload["telescope.finders"] = function()
    return {
      new_table = function(t)
        return t
      end,
    }
  end
  package.preload["telescope.config"] = function()
    return {
      values = {
        generic_sorter = function()
          return "sorter"
        end,
        grep_previewer = function()
          return "previewer"
        end,
      },
    }
  end
  package.preload["telescope.actions"] = function()
    return {
      select_default = {
        replace = function(_, fn)
          T.select = fn
        end,
      },
      close = function() end,
    }
  end
  package.preload["telescope.actions.state"] = function()
    return {
      get_selected_entry = function()
        return T.selected
      end,
    }
  end
end

-- The entries of the recorded Telescope picker, as {display, filename, lnum}.
function T.telescope_entries()
  local out = {}
  for _, node in ipairs(T.picker.finder.results) do
    local e = T.picker.finder.entry_maker(node)
    table.insert(out, { display = e.display, filename = e.filename, lnum = e.lnum })
  end
  return out
end

-- Presses <CR> on entry `i` of the recorded picker.
function T.telescope_select(i)
  T.picker.attach_mappings(0)
  T.selected = T.picker.finder.entry_maker(T.picker.finder.results[i])
  T.select()
end

return T
