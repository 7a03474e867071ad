// The real retrace-lsp on stdio, driven through vscode-languageserver-protocol (the protocol
// library vscode-languageclient is built on), with the extension's own core as the client.
import * as assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';

import {
  ExecuteCommandRequest,
  InitializeRequest,
  InitializeResult,
  ProtocolConnection,
  ShowDocumentParams,
  ShowDocumentRequest,
  StreamMessageReader,
  StreamMessageWriter,
  createProtocolConnection,
} from 'vscode-languageserver-protocol/node';

import { Transport } from '../src/core/navigator';
import {
  ForwardPolicy,
  TREE_CHANGED_NOTIFICATION,
  TreeChanged,
  VISIT_NOTIFICATION,
  VisitParams,
  initializationOptions,
} from '../src/core/protocol';

const REPO = path.resolve(__dirname, '..', '..', '..', '..');

/** The retrace-lsp built for the tests (the Makefile exports RETRACE_BIN_DIR). */
export function serverBinary(): string {
  const dir =
    process.env.RETRACE_BIN_DIR ??
    path.join(process.env.CARGO_TARGET_DIR ?? path.join(REPO, 'target'), 'debug');
  const bin = path.join(dir, 'retrace-lsp');
  assert.ok(fs.existsSync(bin), `${bin} is missing: build it first (cargo build -p retrace-lsp, or make test)`);
  return bin;
}

export function uri(file: string): string {
  return pathToFileURL(file).href;
}

/** A workspace in a temp dir: src/{a,b,c,d}.ts of 200 numbered lines, and a data dir. */
export function makeWorkspace(): { root: string; dataHome: string; file(name: string): string; cleanup(): void } {
  const base = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'retrace-vscode-')));
  const root = path.join(base, 'ws');
  fs.mkdirSync(path.join(root, 'src'), { recursive: true });
  for (const name of ['a', 'b', 'c', 'd']) {
    const lines = Array.from({ length: 200 }, (_, i) => `const ${name}${i + 1} = ${i + 1};`);
    fs.writeFileSync(path.join(root, 'src', `${name}.ts`), lines.join('\n') + '\n');
  }
  return {
    root,
    dataHome: path.join(base, 'data'),
    file: (name) => path.join(root, 'src', name),
    cleanup: () => fs.rmSync(base, { recursive: true, force: true }),
  };
}

export class Server implements Transport {
  readonly changes: TreeChanged[] = [];
  readonly visitsSent: VisitParams[] = [];
  private constructor(
    private readonly process: ChildProcess,
    readonly connection: ProtocolConnection,
    readonly initializeResult: InitializeResult,
    /** The `window/showDocument` requests received (answered with success). */
    readonly shown: ShowDocumentParams[],
  ) {
    connection.onNotification(TREE_CHANGED_NOTIFICATION, (params: TreeChanged) => this.changes.push(params));
  }

  /** Starts retrace-lsp; with `serverOptions.showDocument`, a client that shows documents. */
  static async start(
    root: string,
    dataHome: string,
    policy: ForwardPolicy = 'ask',
    serverOptions: object = {},
  ): Promise<Server> {
    const child = spawn(serverBinary(), ['--stdio'], {
      env: { ...process.env, XDG_DATA_HOME: dataHome },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const connection = createProtocolConnection(
      new StreamMessageReader(child.stdout!),
      new StreamMessageWriter(child.stdin!),
    );
    const shown: ShowDocumentParams[] = [];
    connection.onRequest(ShowDocumentRequest.type, (params) => {
      shown.push(params);
      return { success: true };
    });
    connection.listen();
    const result = await connection.sendRequest(InitializeRequest.type, {
      processId: process.pid,
      rootUri: uri(root),
      workspaceFolders: [{ uri: uri(root), name: path.basename(root) }],
      capabilities: { window: { showDocument: { support: true } } },
      initializationOptions: initializationOptions(policy, serverOptions),
      clientInfo: { name: 'retrace-vscode-tests', version: '1' },
    });
    await connection.sendNotification('initialized', {});
    return new Server(child, connection, result, shown);
  }

  command(name: string, argument?: object): Promise<unknown> {
    return this.connection.sendRequest(ExecuteCommandRequest.type, {
      command: name,
      arguments: argument ? [argument] : [],
    });
  }

  visit(params: VisitParams): void {
    this.visitsSent.push(params);
    void this.connection.sendNotification(VISIT_NOTIFICATION, params);
  }

  async stop(): Promise<void> {
    const exited = new Promise<void>((resolve) => {
      if (this.process.exitCode !== null) {
        resolve();
      } else {
        this.process.once('exit', () => resolve());
      }
    });
    await this.connection.sendRequest('shutdown');
    await this.connection.sendNotification('exit');
    this.process.stdin?.end();
    const timeout = setTimeout(() => this.process.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timeout);
    this.connection.dispose();
  }
}

/** Waits until `check` holds (notifications arrive on their own time). */
export async function eventually(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) {
      assert.fail(`timed out waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}
