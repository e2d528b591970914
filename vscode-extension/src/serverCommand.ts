/**
 * Which command starts the Flux language server, in order: the `flux.serverCommand` setting;
 * the Python extension's selected interpreter running `-m flux_lsp lsp`; `flux lsp` on PATH.
 *
 * The order and the probing are pure (`resolveServerCommand` takes its look-ups as
 * arguments); `vscodeLookups` supplies the real ones: the settings, the Python extension's
 * public API (`environments.getActiveEnvironmentPath` / `resolveEnvironment`), and process
 * probes.
 */

import { execFile } from "node:child_process";
import { access, constants } from "node:fs/promises";
import * as path from "node:path";
import * as vscode from "vscode";

export type ServerSource = "setting" | "python" | "path";

export interface ServerCommand {
  command: string;
  args: string[];
  source: ServerSource;
}

export interface Lookups {
  /** The `flux.serverCommand` setting (an argv list; empty when unset). */
  setting(): string[];
  /** The interpreter the Python extension selected for the folder, if any. */
  pythonInterpreter(): Promise<string | undefined>;
  /** Whether `command args…` exits 0 (used to check that `flux_lsp` imports). */
  runs(command: string, args: string[]): Promise<boolean>;
  /** The full path of an executable found on PATH (or the path itself, if executable). */
  which(name: string): Promise<string | undefined>;
}

export interface Resolution {
  found?: ServerCommand;
  /** What was tried and why each did not work, in order. */
  tried: string[];
}

/** Split a string setting the way a shell would for simple cases (quotes, spaces). */
export function splitCommand(text: string): string[] {
  const parts: string[] = [];
  const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    parts.push(m[1] ?? m[2] ?? m[3]);
  }
  return parts;
}

export async function resolveServerCommand(lookups: Lookups): Promise<Resolution> {
  const tried: string[] = [];

  const setting = lookups.setting().filter((part) => part.length > 0);
  if (setting.length > 0) {
    const exe = await lookups.which(setting[0]);
    if (exe) {
      return { found: { command: exe, args: setting.slice(1), source: "setting" }, tried };
    }
    tried.push(`flux.serverCommand: ${setting[0]} is not an executable`);
  } else {
    tried.push("flux.serverCommand: not set");
  }

  const python = await lookups.pythonInterpreter();
  if (python) {
    if (await lookups.runs(python, ["-c", "import flux_lsp"])) {
      return { found: { command: python, args: ["-m", "flux_lsp", "lsp"], source: "python" }, tried };
    }
    tried.push(`Python interpreter ${python}: flux_lsp is not installed there`);
  } else {
    tried.push("Python extension: no interpreter selected");
  }

  const flux = await lookups.which("flux");
  if (flux) {
    return { found: { command: flux, args: ["lsp"], source: "path" }, tried };
  }
  tried.push("PATH: no `flux` executable");
  return { tried };
}

interface PythonEnvironmentApi {
  environments?: {
    getActiveEnvironmentPath(resource?: vscode.Uri): { id?: string; path: string } | undefined;
    resolveEnvironment?(
      env: { id?: string; path: string } | string,
    ): Promise<{ executable?: { uri?: vscode.Uri } } | undefined>;
  };
}

/** The interpreter the Python extension selected for `folder`, through its public API. */
export async function pythonFromExtension(folder: vscode.Uri | undefined): Promise<string | undefined> {
  const extension = vscode.extensions.getExtension<PythonEnvironmentApi>("ms-python.python");
  if (!extension) {
    return undefined;
  }
  try {
    const api = extension.isActive ? extension.exports : await extension.activate();
    const environments = api?.environments;
    const active = environments?.getActiveEnvironmentPath(folder);
    if (!active) {
      return undefined;
    }
    const resolved = await environments?.resolveEnvironment?.(active);
    return resolved?.executable?.uri?.fsPath ?? active.path;
  } catch {
    return undefined;
  }
}

async function isExecutable(file: string): Promise<boolean> {
  try {
    await access(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export async function whichExecutable(name: string, cwd?: string): Promise<string | undefined> {
  if (name.includes("/") || name.includes("\\")) {
    const full = path.isAbsolute(name) ? name : path.resolve(cwd ?? process.cwd(), name);
    return (await isExecutable(full)) ? full : undefined;
  }
  const exts = process.platform === "win32" ? ["", ".exe", ".cmd", ".bat"] : [""];
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    if (!dir) {
      continue;
    }
    for (const ext of exts) {
      const full = path.join(dir, name + ext);
      if (await isExecutable(full)) {
        return full;
      }
    }
  }
  return undefined;
}

export function runsOk(command: string, args: string[], cwd?: string): Promise<boolean> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd, timeout: 15000 }, (err) => resolve(err === null));
  });
}

/** The real look-ups for a workspace folder. */
export function vscodeLookups(folder: vscode.WorkspaceFolder | undefined): Lookups {
  const cwd = folder?.uri.fsPath;
  return {
    setting: () => {
      const value = vscode.workspace.getConfiguration("flux", folder?.uri).get<string[] | string>("serverCommand");
      if (typeof value === "string") {
        return splitCommand(value);
      }
      return Array.isArray(value) ? value.map(String) : [];
    },
    pythonInterpreter: () => pythonFromExtension(folder?.uri),
    runs: (command, args) => runsOk(command, args, cwd),
    which: (name) => whichExecutable(name, cwd),
  };
}
