"""Runs functions and produces records: the gateway, `ctx` and its services, the job worker.

May import `flux_lsp.model` and `flux_lsp.project` only. Finished executions go to a
`Recorder` sink (see `recording.py`); this package never imports `flux_lsp.recorder`.
"""
