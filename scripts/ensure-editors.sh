#!/bin/sh
# Install the editors the language-server client tests drive, from Debian's packages: Neovim,
# and Emacs with eglot and lsp-mode. Never fails the build: without them (no apt, no root, no
# network) their tests are skipped and say why.
PACKAGES=""
command -v nvim >/dev/null 2>&1 || PACKAGES="$PACKAGES neovim"
if ! command -v emacs >/dev/null 2>&1; then
    PACKAGES="$PACKAGES emacs-nox elpa-eglot elpa-lsp-mode"
else
    dpkg -s elpa-eglot >/dev/null 2>&1 || PACKAGES="$PACKAGES elpa-eglot"
    dpkg -s elpa-lsp-mode >/dev/null 2>&1 || PACKAGES="$PACKAGES elpa-lsp-mode"
fi
if [ -z "$PACKAGES" ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-editors: apt-get not available; the tests of$PACKAGES will be skipped" >&2
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "ensure-editors: not root and no sudo; the tests of$PACKAGES will be skipped" >&2
        exit 0
    fi
fi
# shellcheck disable=SC2086
if $SUDO apt-get update -qq >/dev/null 2>&1 \
    && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
        $PACKAGES >/dev/null 2>&1; then
    echo "ensure-editors: installed$PACKAGES" >&2
else
    echo "ensure-editors: could not install$PACKAGES; their tests will be skipped" >&2
fi
exit 0
