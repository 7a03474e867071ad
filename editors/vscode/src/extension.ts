// The Retrace extension: one retrace-lsp per workspace folder, started when the folder is
// first needed. VS Code events go to the VisitTracker, commands to a Navigator; both live
// in `core/` and know nothing of the vscode API. The history itself is the server's.
import * as fs from 'node:fs';
import * as vscode from 'vscode';

import { ShowDocumentParams, ShowDocumentResult } from 'vscode-languageclient/node';

import { RetraceLanguageClient, createClient } from './client';
import { COMMANDS, CommandName, SETTINGS, VIEW_ID } from './commands';
import { ServerCheck, checkServer, serverInfoProblem } from './core/binary';
import { EditorPort, Navigator } from './core/navigator';
import {
  ForwardPolicy,
  Location,
  SERVER_COMMANDS,
  TREE_CHANGED_NOTIFICATION,
  VISIT_NOTIFICATION,
  VisitParams,
  asStatus,
  initializationOptions,
} from './core/protocol';
import { statusText, statusTooltip } from './core/status';
import { Place, SelectionKind, VisitTracker } from './core/visits';
import { HistoryTreeProvider } from './treeView';

interface Session {
  folder: vscode.WorkspaceFolder;
  client: RetraceLanguageClient;
  navigator: Navigator;
}

function placeOf(editor: vscode.TextEditor): Place {
  const at = editor.selection.active;
  return {
    uri: editor.document.uri.toString(),
    line: at.line,
    character: at.character,
    version: editor.document.version,
  };
}

function kindOf(kind: vscode.TextEditorSelectionChangeKind | undefined): SelectionKind {
  switch (kind) {
    case vscode.TextEditorSelectionChangeKind.Keyboard:
      return 'keyboard';
    case vscode.TextEditorSelectionChangeKind.Mouse:
      return 'mouse';
    case vscode.TextEditorSelectionChangeKind.Command:
      return 'command';
    default:
      return 'other';
  }
}

/** Only files inside a workspace folder have a history. */
function recorded(document: vscode.TextDocument): boolean {
  return document.uri.scheme === 'file' && vscode.workspace.getWorkspaceFolder(document.uri) !== undefined;
}

function settings(folder?: vscode.WorkspaceFolder): vscode.WorkspaceConfiguration {
  return vscode.workspace.getConfiguration(undefined, folder);
}

class Retrace implements vscode.Disposable {
  private readonly sessions = new Map<string, Promise<Session | undefined>>();
  private readonly failures = new Map<string, string>();
  /** checkServer per serverPath setting: `retrace-lsp --version` runs once, not once per folder. */
  private readonly checks = new Map<string, Promise<ServerCheck>>();
  private readonly shown = new Set<string>();
  private readonly output = vscode.window.createOutputChannel('Retrace');
  private readonly tracker: VisitTracker;
  private readonly tree: HistoryTreeProvider;
  private readonly treeView: vscode.TreeView<number>;
  private readonly status = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Left, 50);
  private readonly disposables: vscode.Disposable[] = [];
  private refreshTimer: ReturnType<typeof setTimeout> | undefined;
  private shownFolder: string | undefined;

  private readonly editor: EditorPort = {
    reveal: async (location: Location) => {
      const at = new vscode.Position(location.range.start.line, location.range.start.character);
      const editor = await vscode.window.showTextDocument(vscode.Uri.parse(location.uri), {
        selection: new vscode.Range(at, at),
        preview: false,
      });
      editor.revealRange(new vscode.Range(at, at), vscode.TextEditorRevealType.InCenterIfOutsideViewport);
      return placeOf(editor);
    },
    pick: async (items, title) => {
      const picked = await vscode.window.showQuickPick(items, { title, matchOnDescription: true, matchOnDetail: true });
      return picked?.node;
    },
    lines: (uri: string) => this.lines(uri),
    show: (level, message) => {
      if (level === 'info') {
        void vscode.window.showInformationMessage(message);
      } else {
        void vscode.window.showWarningMessage(message);
      }
    },
  };

  constructor(context: vscode.ExtensionContext) {
    this.tracker = new VisitTracker({
      jumpLines: () => settings().get<number>(SETTINGS.jumpLines, 10),
      send: (visit) => this.sendVisit(visit),
    });
    this.tree = new HistoryTreeProvider(() => this.loadTree());
    this.treeView = vscode.window.createTreeView(VIEW_ID, { treeDataProvider: this.tree, showCollapseAll: true });
    this.status.command = COMMANDS.showTree;
    this.status.name = 'Retrace';

    const handlers: Record<CommandName, (...args: unknown[]) => Promise<unknown>> = {
      back: () => this.navigate((n) => n.back()),
      forward: () => this.navigate((n, folder) => n.forward(this.forwardPolicy(folder))),
      jump: (node?: unknown) => this.navigate((n) => (typeof node === 'number' ? n.jump(node) : n.pickAndJump())),
      showTree: () => this.showTree(),
      restartServer: () => this.restart(),
    };
    for (const name of Object.keys(COMMANDS) as CommandName[]) {
      this.disposables.push(vscode.commands.registerCommand(COMMANDS[name], handlers[name]));
    }

    this.disposables.push(
      this.output,
      this.status,
      this.treeView,
      this.tree,
      vscode.window.onDidChangeActiveTextEditor((editor) => {
        const place = editor && recorded(editor.document) ? placeOf(editor) : undefined;
        this.tracker.editorChanged(place);
        this.followFolder();
      }),
      vscode.window.onDidChangeTextEditorSelection((event) => {
        const editor = event.textEditor;
        if (editor === vscode.window.activeTextEditor && recorded(editor.document)) {
          this.tracker.selectionChanged(placeOf(editor), kindOf(event.kind));
        }
      }),
      this.treeView.onDidChangeVisibility((e) => {
        if (e.visible) {
          void this.refreshTree();
        }
      }),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration(SETTINGS.serverPath) || e.affectsConfiguration(SETTINGS.serverOptions)) {
          void this.restart();
        }
      }),
      vscode.workspace.onDidChangeWorkspaceFolders((e) => {
        for (const folder of e.removed) {
          void this.stop(folder.uri.toString());
        }
        this.followFolder();
      }),
    );
    context.subscriptions.push(this);

    const editor = vscode.window.activeTextEditor;
    if (editor && recorded(editor.document)) {
      this.tracker.editorChanged(placeOf(editor));
    }
    this.followFolder();
  }

  // --- sessions --------------------------------------------------------------------------

  /** The folder commands act on: the active editor's, else the first. */
  private folder(): vscode.WorkspaceFolder | undefined {
    const editor = vscode.window.activeTextEditor;
    const folder = editor ? vscode.workspace.getWorkspaceFolder(editor.document.uri) : undefined;
    return folder ?? vscode.workspace.workspaceFolders?.[0];
  }

  private session(folder: vscode.WorkspaceFolder): Promise<Session | undefined> {
    const key = folder.uri.toString();
    let session = this.sessions.get(key);
    if (!session) {
      session = this.start(folder);
      this.sessions.set(key, session);
    }
    return session;
  }

  private async start(folder: vscode.WorkspaceFolder): Promise<Session | undefined> {
    const key = folder.uri.toString();
    const check = await this.checkServer(settings(folder).get<string>(SETTINGS.serverPath, ''));
    if (!check.ok) {
      return this.fail(key, check.message);
    }
    const options = initializationOptions(this.forwardPolicy(folder), settings(folder).get(SETTINGS.serverOptions));
    const client = createClient(folder, check.path, options, this.output, (params, show) =>
      this.showDocument(params, show),
    );
    client.onNotification(TREE_CHANGED_NOTIFICATION, () => this.historyChanged(folder));
    try {
      await client.start();
    } catch (e) {
      return this.fail(key, `Retrace: ${check.path} did not start: ${(e as Error).message}. See the Retrace output.`);
    }
    const info = client.initializeResult?.serverInfo;
    const problem = serverInfoProblem(check.path, info);
    if (problem) {
      await client.stop().catch(() => undefined);
      return this.fail(key, problem);
    }
    this.output.appendLine(`retrace-lsp ${info?.version} (${check.path}) for ${folder.uri.fsPath}`);
    this.failures.delete(key);
    const navigator = new Navigator(
      { command: (name, arg) => client.command(name, arg) },
      this.editor,
      this.tracker,
      Date.now,
      options.showDocument === true,
    );
    return { folder, client, navigator };
  }

  private checkServer(setting: string): Promise<ServerCheck> {
    let check = this.checks.get(setting);
    if (!check) {
      check = checkServer(setting);
      this.checks.set(setting, check);
    }
    return check;
  }

  private fail(key: string, message: string): undefined {
    this.failures.set(key, message);
    this.output.appendLine(message);
    if (!this.shown.has(message)) {
      this.shown.add(message);
      void this.showError(message);
    }
    return undefined;
  }

  private async showError(message: string): Promise<void> {
    const choice = await vscode.window.showErrorMessage(message, 'Open Settings', 'Show Output');
    if (choice === 'Open Settings') {
      await vscode.commands.executeCommand('workbench.action.openSettings', SETTINGS.serverPath);
    } else if (choice === 'Show Output') {
      this.output.show();
    }
  }

  private async stop(key: string): Promise<void> {
    // Forgotten before waiting, so what comes meanwhile starts a new session instead of
    // getting this one's client as it stops.
    const session = this.sessions.get(key);
    this.sessions.delete(key);
    this.failures.delete(key);
    await (await session)?.client.stop().catch(() => undefined);
  }

  private async restart(): Promise<void> {
    await Promise.all([...this.sessions.keys()].map((key) => this.stop(key)));
    this.checks.clear();
    this.shown.clear();
    this.shownFolder = undefined;
    this.followFolder();
  }

  private forwardPolicy(folder?: vscode.WorkspaceFolder): ForwardPolicy {
    return settings(folder).get<ForwardPolicy>(SETTINGS.forwardPolicy, 'ask') === 'latest' ? 'latest' : 'ask';
  }

  /**
   * The server's `window/showDocument` (after a command with `showDocument` on, or when the
   * Retrace app moves the editor): vscode-languageclient opens the document (`show`), as a
   * move of the extension's own, so the arrival is not reported as a visit.
   */
  private async showDocument(
    params: ShowDocumentParams,
    show: (params: ShowDocumentParams) => Promise<ShowDocumentResult>,
  ): Promise<ShowDocumentResult> {
    let result: ShowDocumentResult = { success: false };
    await this.tracker.move(async () => {
      result = await show(params);
      const editor = vscode.window.activeTextEditor;
      return result.success && editor && recorded(editor.document) ? placeOf(editor) : undefined;
    });
    return result;
  }

  // --- what the user does --------------------------------------------------------------

  private sendVisit(visit: VisitParams): void {
    const folder = vscode.workspace.getWorkspaceFolder(vscode.Uri.parse(visit.uri));
    if (folder) {
      // sendNotification rejects once the client has stopped (the server crashed too often).
      void this.session(folder)
        .then((s) => s?.client.sendNotification(VISIT_NOTIFICATION, visit))
        .catch((e) => this.output.appendLine(`sending a visit: ${(e as Error).message}`));
    }
  }

  private async navigate(
    run: (navigator: Navigator, folder: vscode.WorkspaceFolder) => Promise<unknown>,
  ): Promise<void> {
    const folder = this.folder();
    if (!folder) {
      void vscode.window.showErrorMessage('Retrace: open a folder first; the history is kept per workspace folder.');
      return;
    }
    const session = await this.session(folder);
    if (!session) {
      void this.showError(this.failures.get(folder.uri.toString()) ?? 'Retrace: retrace-lsp is not running.');
      return;
    }
    try {
      await run(session.navigator, folder);
    } catch (e) {
      void vscode.window.showErrorMessage(`Retrace: ${(e as Error).message}`);
    }
  }

  /** Shows the tree view, and reads the tree and the status again: other editors on the
   * workspace may have changed the history since this one last heard of it. */
  private async showTree(): Promise<void> {
    await vscode.commands.executeCommand(`${VIEW_ID}.focus`);
    await Promise.all([this.refreshTree(), this.refreshStatus()]);
  }

  private lines(uri: string): readonly string[] | undefined {
    const open = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri);
    if (open) {
      return open.getText().split(/\r?\n/);
    }
    try {
      const path = vscode.Uri.parse(uri).fsPath;
      if (fs.statSync(path).size > 2_000_000) {
        return undefined;
      }
      return fs.readFileSync(path, 'utf8').split('\n');
    } catch {
      return undefined;
    }
  }

  // --- following the history -----------------------------------------------------------

  private async loadTree() {
    const folder = this.folder();
    const session = folder && (await this.session(folder));
    if (!session) {
      return undefined;
    }
    this.treeView.description = (vscode.workspace.workspaceFolders?.length ?? 0) > 1 ? folder.name : undefined;
    return session.navigator.tree();
  }

  private async refreshTree(): Promise<void> {
    try {
      const current = await this.tree.refresh();
      if (current !== undefined && this.treeView.visible) {
        await this.treeView.reveal(current, { select: false, focus: false, expand: false });
      }
    } catch (e) {
      this.output.appendLine(`refreshing the tree: ${(e as Error).message}`);
    }
  }

  private async refreshStatus(): Promise<void> {
    const folder = this.folder();
    const session = folder && (await this.session(folder));
    if (!session) {
      this.status.hide();
      return;
    }
    try {
      const status = asStatus(await session.client.command(SERVER_COMMANDS.status));
      this.status.text = statusText(status);
      this.status.tooltip = statusTooltip(status);
      this.status.show();
    } catch (e) {
      this.output.appendLine(`reading the status: ${(e as Error).message}`);
    }
  }

  /** `retrace/treeChanged`: refresh once the burst is over. */
  private historyChanged(folder: vscode.WorkspaceFolder): void {
    if (this.folder()?.uri.toString() !== folder.uri.toString()) {
      return;
    }
    if (this.refreshTimer) {
      clearTimeout(this.refreshTimer);
    }
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = undefined;
      void this.refreshStatus();
      if (this.treeView.visible) {
        void this.refreshTree();
      }
    }, 100);
  }

  /** The tree and status follow the folder of the active editor. */
  private followFolder(): void {
    const folder = this.folder();
    const key = folder?.uri.toString();
    if (key === this.shownFolder) {
      return;
    }
    this.shownFolder = key;
    void this.refreshStatus();
    if (this.treeView.visible) {
      void this.refreshTree();
    }
  }

  dispose(): void {
    if (this.refreshTimer) {
      clearTimeout(this.refreshTimer);
    }
    this.tracker.dispose();
    for (const d of this.disposables) {
      d.dispose();
    }
  }

  /** Stops every server (deactivation waits for it). */
  async stopAll(): Promise<void> {
    await Promise.all([...this.sessions.keys()].map((key) => this.stop(key)));
  }
}

let retrace: Retrace | undefined;

export function activate(context: vscode.ExtensionContext): void {
  retrace = new Retrace(context);
}

export async function deactivate(): Promise<void> {
  await retrace?.stopAll();
  retrace = undefined;
}
