-- A Telescope picker over every node of the history, most recently visited first, with a
-- preview of the place. Loaded only when Telescope is installed (see :help retrace-telescope).
local M = {}

function M.nodes(opts)
  opts = opts or {}
  local pickers = require("telescope.pickers")
  local finders = require("telescope.finders")
  local conf = require("telescope.config").values
  local actions = require("telescope.actions")
  local action_state = require("telescope.actions.state")
  local retrace = require("retrace")
  local root = opts.root or require("retrace.client").current_root()

  retrace.nodes(root, function(nodes, tree)
    pickers
      .new(opts, {
        prompt_title = "Retrace",
        finder = finders.new_table({
          results = nodes,
          entry_maker = function(node)
            local mark = node.id == tree.current and "  <- current" or ""
            local text = ("#%d %s:%d (%s)%s"):format(node.id, node.path, node.line + 1, node.reason, mark)
            return {
              value = node,
              display = text,
              ordinal = text,
              filename = not node.gone and vim.uri_to_fname(node.uri) or nil,
              lnum = node.line + 1,
              col = node.character + 1,
            }
          end,
        }),
        sorter = conf.generic_sorter(opts),
        previewer = conf.grep_previewer(opts),
        attach_mappings = function(prompt_bufnr)
          actions.select_default:replace(function()
            local entry = action_state.get_selected_entry()
            actions.close(prompt_bufnr)
            if entry then
              retrace.jump(entry.value.id, root)
            end
          end)
          return true
        end,
      })
      :find()
  end)
end

return M
