"""The store of executions, spans and mutations: a SQLite file locally, HTTP remotely.

May import `flux_lsp.model`, `flux_lsp.project` and `flux_lsp.runtime.recording` (the sink
protocol it implements). Front ends read through the `Store` protocol in `store.py`.
"""
