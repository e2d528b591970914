"""Front ends for test runners: the pytest plugin that collects Flux regression cases.

A sibling of `cli/`, `lsp/`, `mcp/` and `serve/` (it imports none of them). May import
`flux_lsp.model`, `flux_lsp.project` and `flux_lsp.replay`.
"""
