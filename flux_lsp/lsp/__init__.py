"""The Flux language server (pygls 2.x): one module per feature, thin handlers over `analysis/`."""
