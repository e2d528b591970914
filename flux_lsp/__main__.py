"""`python -m flux_lsp ...` is the `flux` command."""

from flux_lsp.cli.main import main

if __name__ == "__main__":
    main()
