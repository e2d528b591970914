-- Headless Neovim runs Flux's "Why" code action the way a user does: the cursor on the flux
-- diagnostic, vim.lsp.buf.code_action(), the "Flux: Why" entry picked in vim.ui.select. What
-- the server then shows is written as JSON to $FLUX_OUT: with FLUX_MODE=document the client
-- declares window/showDocument (as Neovim 0.10+ does) and opens the document it is sent;
-- otherwise (Neovim 0.7's own capabilities) the server falls back to window/showMessage.
local out = os.getenv("FLUX_OUT")
local mode = os.getenv("FLUX_MODE")

local shown = {}
local function finish()
  local handle = io.open(out, "w")
  handle:write(vim.fn.json_encode(shown))
  handle:close()
end

vim.lsp.handlers["window/showMessage"] = function(_, result)
  table.insert(shown, { kind = "message", text = result.message })
end

local capabilities = vim.lsp.protocol.make_client_capabilities()
if mode == "document" then
  capabilities.window = capabilities.window or {}
  capabilities.window.showDocument = { support = true }
  vim.lsp.handlers["window/showDocument"] = function(_, result)
    local path = vim.uri_to_fname(result.uri)
    vim.cmd("edit " .. vim.fn.fnameescape(path))
    local lines = vim.api.nvim_buf_get_lines(0, 0, -1, false)
    table.insert(shown, { kind = "document", uri = result.uri, text = table.concat(lines, "\n") })
    return { success = true }
  end
end

local bufnr, client_id = dofile(os.getenv("FLUX_ATTACH"))(capabilities)

vim.wait(30000, function()
  return #vim.diagnostic.get(bufnr) > 0
end, 50)
local diagnostic = vim.diagnostic.get(bufnr)[1]
vim.api.nvim_win_set_cursor(0, { diagnostic.lnum + 1, diagnostic.col })

local titles = {}
vim.ui.select = function(items, opts, on_choice)
  for index, item in ipairs(items) do
    local title = opts.format_item(item)
    table.insert(titles, title)
    if title:find("Flux: Why", 1, true) == 1 then
      on_choice(item, index)
      return
    end
  end
  on_choice(nil, nil)
end
vim.lsp.buf.code_action()

vim.wait(60000, function()
  return #shown > 0
end, 50)
table.insert(shown, { kind = "titles", titles = titles })
finish()
vim.lsp.stop_client(client_id)
vim.wait(2000, function()
  return vim.lsp.get_client_by_id(client_id) == nil
end, 50)
vim.cmd("qa!")
