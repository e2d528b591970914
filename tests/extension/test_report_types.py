"""A report field renamed in Python fails the extension's TypeScript build.

The extension is prepared as `make test` builds it (`scripts/build_extension.sh
--generate-only`: node_modules from package-lock.json, the report types generated from the
report schema, the unit tests' fixtures from the language server's answers). Its sources are
copied twice into scratch folders: one keeps the types generated from the schema as it is, the
other's are generated from the schema with one field the extension reads renamed
(`TraceReport.failing_span_id`, which marks the failing span in the report webview). tsc checks
both: the first compiles, the second fails naming the field in the extension's own source.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from tests.extension import tools

REPORT, FIELD, RENAMED = "TraceReport", "failing_span_id", "failing_span"
SKIPPED = {"node_modules", "dist", "out", "flux.vsix"}


def _prepare() -> str:
    """node, after the extension's dependencies and generated files are in place."""
    node, why = tools.node()
    assert node is not None, f"the extension's type check needs Node.js: {why}"
    build = subprocess.run(
        ["bash", str(tools.REPO / "scripts" / "build_extension.sh"), "--generate-only"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    return node


def _copy(dest: Path) -> Path:
    shutil.copytree(
        tools.EXTENSION, dest, ignore=lambda _dir, names: [n for n in names if n in SKIPPED]
    )
    (dest / "node_modules").symlink_to(tools.EXTENSION / "node_modules")
    return dest


def _rename(schema: Path) -> None:
    doc = json.loads(schema.read_text())
    report = doc["$defs"][REPORT]
    report["properties"] = {
        (RENAMED if name == FIELD else name): value for name, value in report["properties"].items()
    }
    report["required"] = [RENAMED if name == FIELD else name for name in report["required"]]
    schema.write_text(json.dumps(doc))


def test_a_renamed_report_field_fails_the_typescript_build(tmp_path: Path) -> None:
    node = _prepare()
    kept, renamed = _copy(tmp_path / "kept"), _copy(tmp_path / "renamed")
    schema = renamed / "src" / "generated" / "reports.schema.json"
    assert FIELD in json.loads(schema.read_text())["$defs"][REPORT]["properties"]
    _rename(schema)
    generate = subprocess.run(
        [node, "scripts/schema-to-ts.mjs", str(schema), "src/generated/reports.ts"],
        cwd=renamed,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert generate.returncode == 0, generate.stderr
    assert f"readonly {RENAMED}:" in (renamed / "src/generated/reports.ts").read_text()

    tsc = [node, "node_modules/typescript/bin/tsc", "--noEmit", "-p", "."]
    runs = {
        name: subprocess.Popen(tsc, cwd=root, stdout=subprocess.PIPE, text=True)
        for name, root in (("kept", kept), ("renamed", renamed))
    }
    out = {name: run.communicate(timeout=300)[0] for name, run in runs.items()}

    assert runs["kept"].returncode == 0, f"the extension as it is must compile:\n{out['kept']}"
    assert runs["renamed"].returncode != 0, "a renamed field must fail the type check"
    errors = out["renamed"].splitlines()
    in_source = [line for line in errors if line.startswith("src/") and FIELD in line]
    assert in_source, f"no error in the extension's source names {FIELD}:\n{out['renamed']}"
    assert any(line.startswith("src/webview/render.ts") for line in in_source), in_source
    in_fixtures = [line for line in errors if line.startswith("test/generated/") and FIELD in line]
    assert in_fixtures, "the server's recorded answers no longer fit the renamed type either"
