"""Flux: run backend functions, record every execution, and bring the recordings to the editor.

Layers (imports only point down): `cli/` and `lsp/` → `analysis/` and `replay/` → `recorder/`
→ `runtime/` → `model` and `project`. See DESIGN.md.
"""

__version__ = "0.1.0"
