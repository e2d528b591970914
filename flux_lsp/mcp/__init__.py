"""`flux mcp`: the recordings, why, trace and replay as Model Context Protocol tools for agents.

Built on the official `mcp` SDK (`MCPServer`). `workspace` opens the project's recorder (local
or a `flux serve` server); `tools` are thin handlers over `analysis/` and `replay/` returning the
CLI's `--json` reports as structured content plus a short text; `resources` are the recorded
failure groups per source location; `server` assembles them and runs stdio or streamable HTTP
on loopback with a token. May import analysis, replay, recorder, model and project, never cli,
lsp or serve (the `flux mcp` command in cli/ is the entry point).
"""
