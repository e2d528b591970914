-- Opens $FLUX_FILE in headless Neovim and attaches `flux lsp` (started with $FLUX_PYTHON) with
-- the built-in LSP client, for the project at $FLUX_PROJECT. Returns the buffer and client id.
-- `capabilities` (optional) replaces the client's default capabilities.
return function(capabilities)
  local root = os.getenv("FLUX_PROJECT")
  vim.cmd("edit " .. vim.fn.fnameescape(os.getenv("FLUX_FILE")))
  local bufnr = vim.api.nvim_get_current_buf()
  local client_id = vim.lsp.start_client({
    name = "flux",
    cmd = { os.getenv("FLUX_PYTHON"), "-m", "flux_lsp", "lsp" },
    root_dir = root,
    capabilities = capabilities,
    workspace_folders = { { uri = vim.uri_from_fname(root), name = "shop" } },
  })
  vim.lsp.buf_attach_client(bufnr, client_id)
  return bufnr, client_id
end
