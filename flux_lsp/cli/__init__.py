"""The `flux` command line (typer + rich). Renders reports from `analysis/` and `replay/`.

Imports are kept lazy inside commands so that `flux tail` starts fast.
"""
