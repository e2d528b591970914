#!/usr/bin/env bash
# End to end in a real VS Code: code-server (VS Code served on loopback, from the npm registry)
# with the built Flux .vsix installed, opened on a copy of the example shop whose recorder was
# made by driving it, and used through headless Debian Chromium with playwright-core.
#
#   scripts/vscode_e2e.sh install     install code-server once into a cache (reused afterwards)
#   scripts/vscode_e2e.sh run OUTDIR  the whole run; screenshots and result.json under OUTDIR
#
# Exit 3 with a line starting "SKIP:" when Node, Chromium or code-server cannot be installed
# here; any other non-zero exit is a failure.
set -euo pipefail

scratch=""
server_pid=""
REPO=$(cd "$(dirname "$0")/.." && pwd)
CS_VERSION=4.100.3 # the newest code-server that runs on Node 20
CACHE=${FLUX_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/flux-vscode-e2e}
CS_DIR=$CACHE/code-server-$CS_VERSION
CS_BIN=$CS_DIR/node_modules/.bin/code-server
RG_CACHE=vscode-ripgrep-cache-1.15.11/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz
APT_PACKAGES=(build-essential pkg-config libkrb5-dev libx11-dev libxkbfile-dev libsecret-1-dev ripgrep chromium)

skip() {
  echo "SKIP: $*"
  exit 3
}

apt_install_missing() {
  local missing=()
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    skip "Debian packages ${missing[*]} are missing and cannot be installed here (needs root and apt-get)"
  fi
  echo "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null ||
    skip "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null ||
    skip "apt-get could not install ${missing[*]}"
}

install_code_server() {
  command -v node >/dev/null && command -v npm >/dev/null || skip "Node.js and npm are not installed"
  apt_install_missing
  if [ -x "$CS_BIN" ] && [ -f "$CS_DIR/.complete" ]; then
    return 0
  fi
  echo "installing code-server $CS_VERSION into $CS_DIR (once)"
  rm -rf "$CS_DIR"
  mkdir -p "$CS_DIR/tmp/$(dirname "$RG_CACHE")"
  # @vscode/ripgrep downloads rg from the internet unless this cached archive exists:
  # Debian's rg (also 13.0.0) stands in for it.
  tar -czf "$CS_DIR/tmp/$RG_CACHE" -C "$(dirname "$(command -v rg)")" rg
  echo '{"private": true}' >"$CS_DIR/package.json"
  if ! (cd "$CS_DIR" && TMPDIR="$CS_DIR/tmp" npm_config_unsafe_perm=true npm_config_yes=true \
    npm install --no-audit --no-fund --loglevel=error "code-server@$CS_VERSION" >"$CS_DIR/install.log" 2>&1); then
    tail -20 "$CS_DIR/install.log" >&2
    skip "npm could not install code-server $CS_VERSION (log above)"
  fi
  touch "$CS_DIR/.complete"
}

run() {
  local out=$1
  mkdir -p "$out"
  out=$(cd "$out" && pwd)
  install_code_server
  [ -f "$REPO/vscode-extension/flux.vsix" ] || skip "vscode-extension/flux.vsix is not built: run make extension"
  scratch=$(mktemp -d)
  trap 'rm -rf "$scratch"' EXIT
  local user_data=$scratch/user-data ext_dir=$scratch/extensions
  mkdir -p "$user_data/User" "$ext_dir" "$scratch/home" "$scratch/tmp"

  # The example shop, with a recorder made by driving it.
  local made project failing_id
  made=$(cd "$REPO" && .venv/bin/python -m tests.extension.incident "$scratch/workspace")
  project=$(printf '%s' "$made" | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["project"])')
  failing_id=$(printf '%s' "$made" | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["failing_id"])')

  cat >"$user_data/User/settings.json" <<JSON
{
  "workbench.startupEditor": "none",
  "workbench.tips.enabled": false,
  "workbench.colorTheme": "Default Dark Modern",
  "security.workspace.trust.enabled": false,
  "telemetry.telemetryLevel": "off",
  "extensions.autoCheckUpdates": false,
  "extensions.autoUpdate": false,
  "editor.minimap.enabled": false,
  "window.commandCenter": false,
  "flux.serverCommand": ["$REPO/.venv/bin/python", "-m", "flux_lsp", "lsp"]
}
JSON
  HOME=$scratch/home TMPDIR=$scratch/tmp "$CS_BIN" --user-data-dir "$user_data" --extensions-dir "$ext_dir" \
    --install-extension "$REPO/vscode-extension/flux.vsix" >"$out/install-extension.log" 2>&1

  local port
  port=$("$REPO/.venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  # Its own process group, so the cleanup ends code-server, its extension host and `flux lsp`.
  HOME=$scratch/home TMPDIR=$scratch/tmp setsid "$CS_BIN" --auth none --bind-addr "127.0.0.1:$port" \
    --disable-telemetry --disable-update-check --disable-workspace-trust \
    --user-data-dir "$user_data" --extensions-dir "$ext_dir" "$project" >"$out/code-server.log" 2>&1 &
  server_pid=$!
  trap '[ -n "$server_pid" ] && kill -- "-$server_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$scratch"' EXIT
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    sleep 0.2
  done

  (cd "$REPO/vscode-extension" && CHROMIUM_PATH=$(command -v chromium) node e2e/drive-code-server.mjs \
    --url "http://127.0.0.1:$port/?folder=$project" --project "$project" --failing-id "$failing_id" --out "$out")
}

case "${1:-}" in
install) install_code_server ;;
run) run "${2:?usage: vscode_e2e.sh run OUTDIR}" ;;
*)
  echo "usage: $0 install | run OUTDIR" >&2
  exit 2
  ;;
esac
