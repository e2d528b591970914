/**
 * A test double of the `vscode` module: the parts of the API the extension uses, recording
 * what the extension asks of the editor and answering from queues the tests fill.
 */

/* eslint-disable @typescript-eslint/no-explicit-any */

type Answer = (items: any[], options: any) => any;

export const log = {
  quickPicks: [] as { items: any[]; options: any }[],
  inputBoxes: [] as any[],
  messages: [] as { level: string; text: string; buttons: string[] }[],
  executed: [] as { command: string; args: any[] }[],
  progress: [] as any[],
  panels: [] as WebviewPanel[],
  outputs: new Map<string, OutputChannel>(),
  statusItems: [] as StatusBarItem[],
  debugStarts: [] as { folder: any; config: any }[],
};

export const answers = {
  quickPick: [] as Answer[],
  inputBox: [] as (string | undefined)[],
  message: [] as (string | undefined)[],
};

export const registered = new Map<string, (...args: any[]) => any>();
/** Debug adapter descriptor factories and configuration providers, by debug type. */
export const debugProviders = new Map<string, { factory?: any; configuration?: any }>();
export const config: { [key: string]: any } = {};
export const extensionsById = new Map<string, any>();

export function reset(): void {
  log.quickPicks.length = 0;
  log.inputBoxes.length = 0;
  log.messages.length = 0;
  log.executed.length = 0;
  log.progress.length = 0;
  log.panels.length = 0;
  log.outputs.clear();
  log.statusItems.length = 0;
  log.debugStarts.length = 0;
  debugProviders.clear();
  answers.quickPick.length = 0;
  answers.inputBox.length = 0;
  answers.message.length = 0;
  registered.clear();
  extensionsById.clear();
  for (const key of Object.keys(config)) {
    delete config[key];
  }
}

export class Disposable {
  constructor(private readonly fn: () => void = () => undefined) {}
  dispose(): void {
    this.fn();
  }
}

export class EventEmitter<T> {
  private listeners: ((e: T) => void)[] = [];
  event = (listener: (e: T) => void): Disposable => {
    this.listeners.push(listener);
    return new Disposable(() => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    });
  };
  fire(e: T): void {
    for (const l of this.listeners) l(e);
  }
  dispose(): void {
    this.listeners = [];
  }
}

export class CancellationTokenSource {
  private readonly emitter = new EventEmitter<void>();
  token = { isCancellationRequested: false, onCancellationRequested: this.emitter.event };
  cancel(): void {
    this.token.isCancellationRequested = true;
    this.emitter.fire();
  }
  dispose(): void {}
}

export class Uri {
  constructor(readonly fsPath: string) {}
  static file(path: string): Uri {
    return new Uri(path);
  }
  toString(): string {
    return `file://${this.fsPath}`;
  }
}

export class ThemeColor {
  constructor(readonly id: string) {}
}

export enum StatusBarAlignment {
  Left = 1,
  Right = 2,
}
export enum ViewColumn {
  Active = -1,
  Beside = -2,
  One = 1,
}
export enum ProgressLocation {
  SourceControl = 1,
  Window = 10,
  Notification = 15,
}

export class OutputChannel {
  lines: string[] = [];
  shown = 0;
  constructor(readonly name: string) {}
  appendLine(line: string): void {
    this.lines.push(line);
  }
  append(text: string): void {
    this.lines.push(text);
  }
  show(): void {
    this.shown++;
  }
  clear(): void {
    this.lines = [];
  }
  dispose(): void {}
}

export class StatusBarItem {
  text = "";
  tooltip: string | undefined;
  command: string | undefined;
  name: string | undefined;
  backgroundColor: ThemeColor | undefined;
  visible = false;
  constructor(readonly id: string) {}
  show(): void {
    this.visible = true;
  }
  hide(): void {
    this.visible = false;
  }
  dispose(): void {}
}

export class WebviewPanel {
  webview = { html: "", cspSource: "vscode-webview://test" };
  active = true;
  private readonly disposeEmitter = new EventEmitter<void>();
  onDidDispose = this.disposeEmitter.event;
  revealed = 0;
  constructor(
    readonly viewType: string,
    readonly title: string,
    readonly options: any,
  ) {}
  reveal(): void {
    this.revealed++;
  }
  dispose(): void {
    this.disposeEmitter.fire();
  }
}

function message(level: string) {
  return async (text: string, ...buttons: any[]): Promise<string | undefined> => {
    const labels = buttons.filter((b) => typeof b === "string");
    log.messages.push({ level, text, buttons: labels });
    return answers.message.shift();
  };
}

export const window = {
  async showQuickPick(items: any, options?: any): Promise<any> {
    const list = await items;
    log.quickPicks.push({ items: list, options });
    const answer = answers.quickPick.shift();
    return answer ? answer(list, options) : undefined;
  },
  async showInputBox(options?: any): Promise<string | undefined> {
    log.inputBoxes.push(options);
    const value = answers.inputBox.shift();
    if (value !== undefined && options?.validateInput) {
      const problem = await options.validateInput(value);
      if (problem) {
        throw new Error(`input box rejected ${JSON.stringify(value)}: ${problem}`);
      }
    }
    return value;
  },
  showInformationMessage: message("info"),
  showWarningMessage: message("warning"),
  showErrorMessage: message("error"),
  createOutputChannel(name: string): OutputChannel {
    const channel = new OutputChannel(name);
    log.outputs.set(name, channel);
    return channel;
  },
  createStatusBarItem(id: string): StatusBarItem {
    const item = new StatusBarItem(id);
    log.statusItems.push(item);
    return item;
  },
  createWebviewPanel(viewType: string, title: string, _column: any, options: any): WebviewPanel {
    const panel = new WebviewPanel(viewType, title, options);
    log.panels.push(panel);
    return panel;
  },
  async withProgress(options: any, task: (progress: any, token: any) => Promise<any>): Promise<any> {
    const source = new CancellationTokenSource();
    const entry = { options, source, reports: [] as any[] };
    log.progress.push(entry);
    return task({ report: (r: any) => entry.reports.push(r) }, source.token);
  },
};

export const commands = {
  registerCommand(id: string, fn: (...args: any[]) => any): Disposable {
    if (registered.has(id)) {
      throw new Error(`command '${id}' already exists`);
    }
    registered.set(id, fn);
    return new Disposable(() => registered.delete(id));
  },
  async executeCommand(command: string, ...args: any[]): Promise<any> {
    log.executed.push({ command, args });
    const fn = registered.get(command);
    return fn ? fn(...args) : undefined;
  },
};

const configChanged = new EventEmitter<any>();

export const workspace = {
  workspaceFolders: [{ uri: Uri.file("/project"), name: "project", index: 0 }] as any[] | undefined,
  getConfiguration(section?: string) {
    return {
      get<T>(key: string, fallback?: T): T | undefined {
        const full = section ? `${section}.${key}` : key;
        return full in config ? (config[full] as T) : fallback;
      },
    };
  },
  onDidChangeConfiguration: configChanged.event,
};

const diagnosticsChanged = new EventEmitter<any>();
export const languages = {
  onDidChangeDiagnostics: diagnosticsChanged.event,
};

export const extensions = {
  getExtension(id: string): any {
    return extensionsById.get(id);
  },
};

export class DebugAdapterServer {
  constructor(
    readonly port: number,
    readonly host?: string,
  ) {}
}

export const debug = {
  registerDebugAdapterDescriptorFactory(type: string, factory: any): Disposable {
    debugProviders.set(type, { ...debugProviders.get(type), factory });
    return new Disposable(() => debugProviders.delete(type));
  },
  registerDebugConfigurationProvider(type: string, configuration: any): Disposable {
    debugProviders.set(type, { ...debugProviders.get(type), configuration });
    return new Disposable(() => debugProviders.delete(type));
  },
  async startDebugging(folder: any, config: any): Promise<boolean> {
    log.debugStarts.push({ folder, config });
    return true;
  },
};
