"""`flux serve`'s admin API: deployments and the recorder read API under `/_flux/`.

Sits at the analysis/replay level: may import `flux_lsp.runtime` (to swap code in a running
`Runtime`) and `flux_lsp.recorder` (to read the recorder and share `RemoteStore`'s wire
format), never `cli` or `lsp`.
"""
