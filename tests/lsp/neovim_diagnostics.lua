-- Opens a file in headless Neovim, attaches `flux lsp` with the built-in LSP client, waits for
-- diagnostics and writes what vim.diagnostic.get() returns as JSON to $FLUX_OUT.
local out = os.getenv("FLUX_OUT")
local bufnr, client_id = dofile(os.getenv("FLUX_ATTACH"))()

vim.wait(30000, function()
  return #vim.diagnostic.get(bufnr) > 0
end, 50)

local result = {}
for _, d in ipairs(vim.diagnostic.get(bufnr)) do
  table.insert(result, {
    lnum = d.lnum,
    col = d.col,
    end_lnum = d.end_lnum,
    end_col = d.end_col,
    severity = d.severity,
    message = d.message,
    source = d.source,
  })
end
local handle = io.open(out, "w")
handle:write(vim.fn.json_encode(result))
handle:close()
vim.lsp.stop_client(client_id)
vim.wait(2000, function()
  return vim.lsp.get_client_by_id(client_id) == nil
end, 50)
vim.cmd("qa!")
