#!/usr/bin/env bash
# Build the VS Code extension as `make test` checks it: install node_modules from
# package-lock.json (npm ci, only when the lock file changed), generate the report types from
# the Python reports' JSON Schema and the unit tests' fixtures from the language server's
# answers, type-check in strict mode, bundle with esbuild, run the unit tests, package the
# .vsix and check what it holds. `--generate-only` stops after installing and generating.
set -euo pipefail
cd "$(dirname "$0")/../vscode-extension"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "extension: SKIPPED — Node.js and npm are not installed, so the VS Code extension was not built or tested"
  exit 0
fi

stamp=node_modules/.flux-package-lock.json
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi

# The report types come from the Python reports: a renamed field fails tsc below. The unit
# tests' fixtures are the language server's real answers on the seed incident, typed with them.
root=$(cd .. && pwd)
python="$root/.venv/bin/python"
[ -x "$python" ] || python=python3
mkdir -p src/generated
(cd "$root" && "$python" -m flux_lsp.lsp.report_schema) > src/generated/reports.schema.json
node scripts/schema-to-ts.mjs src/generated/reports.schema.json src/generated/reports.ts
(cd "$root" && "$python" -m tests.extension.server_answers vscode-extension/test/generated/answers.ts)
if [ "${1:-}" = "--generate-only" ]; then
  exit 0
fi
npx --no-install tsc --noEmit -p .
node scripts/build.mjs --tests
node --test --test-reporter=spec out/test/
npx --no-install vsce package --no-dependencies --allow-missing-repository --skip-license -o flux.vsix >/dev/null
python3 scripts/check_vsix.py flux.vsix
