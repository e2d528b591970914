// Bundle the extension (dist/extension.js) and the standalone renderer (dist/render-cli.js)
// with esbuild; with --tests, also compile the unit tests to out/test/ (the `vscode` module
// and the language client are replaced by test doubles there, see test/setup.ts).
import { build } from "esbuild";
import { readdirSync } from "node:fs";

const common = { bundle: true, platform: "node", target: "node20", format: "cjs", sourcemap: false, logLevel: "warning" };

await build({ ...common, entryPoints: ["src/extension.ts"], outfile: "dist/extension.js", external: ["vscode"], minify: true });
await build({ ...common, entryPoints: ["src/render-cli.ts"], outfile: "dist/render-cli.js" });

if (process.argv.includes("--tests")) {
  const tests = readdirSync("test").filter((f) => f.endsWith(".test.ts")).map((f) => `test/${f}`);
  await build({
    ...common,
    entryPoints: tests,
    outdir: "out/test",
    external: ["vscode", "vscode-languageclient/node", "flux-test-setup"],
    banner: { js: 'require("../setup.js");' },
  });
  await build({ ...common, entryPoints: ["test/setup.ts"], outfile: "out/setup.js", bundle: true });
}
