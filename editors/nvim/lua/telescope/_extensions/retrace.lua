-- :Telescope retrace, after require("telescope").load_extension("retrace").
return require("telescope").register_extension({
  exports = {
    retrace = function(opts)
      require("retrace.telescope").nodes(opts)
    end,
  },
})
