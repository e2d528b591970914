"""Re-running recorded executions against current code, on a sandbox copy of the data.

May import `flux_lsp.model`, `flux_lsp.project`, `flux_lsp.runtime` and `flux_lsp.recorder`.
"""
