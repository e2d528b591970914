"""What the recordings mean: why reports, traces, diffs, call-site summaries. Pure functions.

Records in, report dataclasses out. May import `flux_lsp.model` and `flux_lsp.recorder`.
Rendering a report (rich for the terminal, Markdown for the editor) is not done here.
"""
