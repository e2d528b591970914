#!/bin/sh
# Install Debian's neovim for the language server's Neovim client test, where that is possible.
# Never fails the build: without nvim (no apt, no root, no network) the test is skipped.
if command -v nvim >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-neovim: apt-get not available; the Neovim LSP test will be skipped" >&2
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "ensure-neovim: not root and no sudo; the Neovim LSP test will be skipped" >&2
        exit 0
    fi
fi
if $SUDO apt-get update -qq >/dev/null 2>&1 \
    && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq neovim >/dev/null 2>&1; then
    echo "ensure-neovim: installed $(nvim --version | head -n 1)" >&2
else
    echo "ensure-neovim: could not install neovim; the Neovim LSP test will be skipped" >&2
fi
exit 0
