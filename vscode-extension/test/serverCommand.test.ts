/** The server command is resolved in order: setting, the Python extension's interpreter, PATH. */

import assert from "node:assert/strict";
import { tmpdir } from "node:os";
import { beforeEach, test } from "node:test";
import { type Lookups, resolveServerCommand, splitCommand, vscodeLookups } from "../src/serverCommand";
import { vscode } from "./helpers";

function lookups(over: Partial<Lookups>): Lookups {
  return {
    setting: () => [],
    pythonInterpreter: async () => undefined,
    runs: async () => false,
    which: async () => undefined,
    ...over,
  };
}

beforeEach(() => vscode.reset());

test("the setting wins over the interpreter and PATH", async () => {
  const r = await resolveServerCommand(
    lookups({
      setting: () => ["myflux", "lsp", "--verbose"],
      pythonInterpreter: async () => "/venv/bin/python",
      runs: async () => true,
      which: async (name) => `/usr/bin/${name}`,
    }),
  );
  assert.deepEqual(r.found, { command: "/usr/bin/myflux", args: ["lsp", "--verbose"], source: "setting" });
});

test("then the selected interpreter runs -m flux_lsp lsp, if flux_lsp imports there", async () => {
  const probed: string[][] = [];
  const r = await resolveServerCommand(
    lookups({
      pythonInterpreter: async () => "/venv/bin/python",
      runs: async (cmd, args) => {
        probed.push([cmd, ...args]);
        return true;
      },
      which: async (name) => `/usr/bin/${name}`,
    }),
  );
  assert.deepEqual(r.found, { command: "/venv/bin/python", args: ["-m", "flux_lsp", "lsp"], source: "python" });
  assert.deepEqual(probed, [["/venv/bin/python", "-c", "import flux_lsp"]]);
});

test("then flux lsp on PATH; a broken setting and an interpreter without Flux are reported", async () => {
  const r = await resolveServerCommand(
    lookups({
      setting: () => ["/missing/flux"],
      pythonInterpreter: async () => "/usr/bin/python3",
      runs: async () => false,
      which: async (name) => (name === "flux" ? "/home/u/.local/bin/flux" : undefined),
    }),
  );
  assert.deepEqual(r.found, { command: "/home/u/.local/bin/flux", args: ["lsp"], source: "path" });
  assert.equal(r.tried.length, 2);
  assert.match(r.tried[0], /\/missing\/flux is not an executable/);
  assert.match(r.tried[1], /flux_lsp is not installed/);
});

test("nothing found: no command, and every attempt explained", async () => {
  const r = await resolveServerCommand(lookups({}));
  assert.equal(r.found, undefined);
  assert.deepEqual(r.tried, [
    "flux.serverCommand: not set",
    "Python extension: no interpreter selected",
    "PATH: no `flux` executable",
  ]);
});

test("the real look-ups read the setting and the Python extension's public API", async () => {
  vscode.config["flux.serverCommand"] = "'/opt/my python/bin/python' -m flux_lsp lsp";
  const asked: unknown[] = [];
  vscode.extensionsById.set("ms-python.python", {
    isActive: false,
    exports: undefined,
    async activate() {
      return {
        environments: {
          getActiveEnvironmentPath(resource: unknown) {
            asked.push(resource);
            return { id: "venv", path: "/project/.venv" };
          },
          async resolveEnvironment(env: { path: string }) {
            return { executable: { uri: vscode.Uri.file(`${env.path}/bin/python`) } };
          },
        },
      };
    },
  });
  const folder = { uri: vscode.Uri.file(tmpdir()), name: "tmp", index: 0 } as never as { uri: { fsPath: string } };
  const real = vscodeLookups(folder as never);
  assert.deepEqual(real.setting(), ["/opt/my python/bin/python", "-m", "flux_lsp", "lsp"]);
  assert.equal(await real.pythonInterpreter(), "/project/.venv/bin/python");
  assert.equal(asked[0], folder.uri);
  assert.equal(await real.which(process.execPath), process.execPath);
  assert.equal(await real.runs(process.execPath, ["-e", "process.exit(0)"]), true);
  assert.equal(await real.runs(process.execPath, ["-e", "process.exit(3)"]), false);
});

test("without the Python extension there is no interpreter", async () => {
  assert.equal(await vscodeLookups(undefined).pythonInterpreter(), undefined);
});

test("splitCommand keeps quoted parts together", () => {
  assert.deepEqual(splitCommand(`"/a b/python" -m flux_lsp  lsp`), ["/a b/python", "-m", "flux_lsp", "lsp"]);
});
