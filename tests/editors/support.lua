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

-- Counts the retrace/visit notifications the plugin sends (wraps the client's notify).
T.visits_sent = {}
function T.spy_on_visits()
  local client = require("retrace.client").client(require("retrace.client").current_root())
  assert(client, "no retrace client to spy on")
  local notify = client.notify
  client.notify = function(method, params)
    if method == "retrace/visit" then
      table.insert(T.visits_sent, params)
    end
    return notify(method, params)
  end
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
  local client = require("retrace.client").client(require("retrace.client").current_root())
  assert(client, "no retrace client")
  local reply = client.request_sync("workspace/executeCommand", {
    command = name,
    arguments = argument and { argument } or {},
  }, 5000)
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
