// The extension's protocol code (src/core) against the real retrace-lsp over stdio.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';

import { checkServer, serverInfoProblem } from '../src/core/binary';
import { Navigator } from '../src/core/navigator';
import { MINIMUM_SERVER_VERSION, SERVER_COMMANDS, asStatus, asTree } from '../src/core/protocol';
import { statusText } from '../src/core/status';
import { TreeModel } from '../src/core/treeModel';
import { VisitTracker } from '../src/core/visits';
import { FakeEditor } from './fakeEditor';
import { Server, eventually, makeWorkspace, serverBinary, uri } from './harness';

type Workspace = ReturnType<typeof makeWorkspace>;

interface Setup {
  ws: Workspace;
  server: Server;
  editor: FakeEditor;
  tracker: VisitTracker;
  nav: Navigator;
}

async function connect(ws: Workspace, jumpLines = 10, serverOptions: { showDocument?: boolean } = {}): Promise<Setup> {
  const server = await Server.start(ws.root, ws.dataHome, 'ask', serverOptions);
  const editor = new FakeEditor();
  const tracker = new VisitTracker({ jumpLines: () => jumpLines, send: (v) => server.visit(v), settleMs: 0 });
  editor.tracker = tracker;
  const nav = new Navigator(server, editor, tracker, Date.now, serverOptions.showDocument === true);
  return { ws, server, editor, tracker, nav };
}

async function nodes(server: Server): Promise<string[]> {
  const tree = asTree(await server.command(SERVER_COMMANDS.tree, { format: 'json' }));
  return tree.nodes.map((n) => `${n.path}:${n.line + 1} (${n.reason})`);
}

async function treeText(server: Server): Promise<string[]> {
  return (String(await server.command(SERVER_COMMANDS.tree, { format: 'text' })) as string).trimEnd().split('\n');
}

function where(editor: FakeEditor, ws: Workspace): string {
  const p = editor.place!;
  return `${path.relative(ws.root, new URL(p.uri).pathname)}:${p.line + 1}`;
}

/** a.ts, then b.ts, 199 lines down b.ts, then c.ts. */
async function walk({ ws, editor, server }: Setup): Promise<void> {
  editor.open(ws.file('a.ts'));
  editor.open(ws.file('b.ts'));
  editor.moveTo(199, 'keyboard');
  editor.open(ws.file('c.ts'));
  assert.deepEqual(await nodes(server), [
    'src/a.ts:1 (open)',
    'src/b.ts:1 (open)',
    'src/b.ts:200 (jump)',
    'src/c.ts:1 (open)',
  ]);
}

describe('against retrace-lsp', () => {
  let ws: Workspace;
  let s: Setup;

  beforeEach(async () => {
    ws = makeWorkspace();
    s = await connect(ws);
  });

  afterEach(async () => {
    s.tracker.dispose();
    await s.server.stop();
    ws.cleanup();
  });

  test('the server is recent enough and says so', () => {
    assert.equal(s.server.initializeResult.serverInfo?.name, 'retrace-lsp');
    assert.ok(s.server.initializeResult.serverInfo?.version);
    assert.equal(serverInfoProblem(serverBinary(), s.server.initializeResult.serverInfo), undefined);
  });

  test('back, a new branch, and forward through the QuickPick', async () => {
    await walk(s);
    const { nav, editor, server } = s;
    await nav.back();
    assert.equal(where(editor, ws), 'src/b.ts:200');
    await nav.back();
    await nav.back();
    assert.equal(where(editor, ws), 'src/a.ts:1');
    const atRoot = await nav.back();
    assert.equal(atRoot.status, 'at-root');
    assert.match(editor.messages.at(-1)!.message, /^Retrace: already at the oldest place/);

    editor.open(ws.file('d.ts'));
    await nav.back();
    editor.answer = (items) => items[1];
    const moved = await nav.forward();
    assert.equal(moved.status, 'moved');
    assert.equal(where(editor, ws), 'src/b.ts:1');
    const pick = editor.picks.at(-1)!;
    assert.equal(pick.title, 'Retrace: forward to');
    assert.deepEqual(
      pick.items.map((i) => [i.label, i.detail]),
      [
        ['src/d.ts:1', 'const d1 = 1;'],
        ['src/b.ts:1', 'const b1 = 1;'],
      ],
    );
    assert.match(pick.items[0]!.description, /^open, just now$/);

    await nav.forward();
    await nav.forward();
    assert.equal(where(editor, ws), 'src/c.ts:1');
    assert.equal((await nav.forward()).status, 'at-leaf');
    assert.deepEqual(await treeText(server), [
      '#1 src/a.ts:1 (open)',
      '├─ #2 src/b.ts:1 (open)',
      '│  #3 src/b.ts:200 (jump)',
      '│  #4 src/c.ts:1 (open)  <- current',
      '└─ #5 src/d.ts:1 (open)',
    ]);

    // a dismissed QuickPick moves nothing; the latest policy asks nothing
    await nav.back();
    await nav.back();
    await nav.back();
    editor.answer = () => undefined;
    assert.equal((await nav.forward()).status, 'choose');
    assert.equal(where(editor, ws), 'src/a.ts:1');
    const picks = editor.picks.length;
    await nav.forward('latest');
    assert.equal(editor.picks.length, picks);
    assert.equal(where(editor, ws), 'src/b.ts:1');
  });

  test('moves made by the extension are not reported as visits', async () => {
    await walk(s);
    const { nav, editor, server } = s;
    const sent = server.visitsSent.length;
    await nav.back();
    await nav.back();
    await nav.jump(4);
    await nav.jump(3);
    // let the events VS Code fires after a reveal arrive
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(server.visitsSent.length, sent);
    assert.equal(where(editor, ws), 'src/b.ts:200');
    assert.equal((await nodes(server)).length, 4);
    // the user's own moves still are
    editor.open(ws.file('a.ts'), 50);
    assert.equal(server.visitsSent.length, sent + 1);
    await eventually(async () => (await nodes(server)).length === 5, 'the new visit');
  });

  test('in-file moves: long ones, and commands past the same-place window; not edits', async () => {
    const { editor, server, ws: w } = s;
    editor.open(w.file('a.ts'));
    editor.moveTo(5, 'keyboard'); // short
    editor.moveTo(40, 'keyboard'); // 35 lines: a visit
    editor.moveTo(44, 'command'); // a command, but the same place
    editor.moveTo(60, 'command'); // a command: a visit
    editor.type(30); // paste 30 lines: the cursor moves with the edit
    assert.deepEqual(await nodes(server), ['src/a.ts:1 (open)', 'src/a.ts:41 (jump)', 'src/a.ts:61 (jump)']);
  });

  test('the jump picker lists every place, most recent first', async () => {
    await walk(s);
    const { nav, editor } = s;
    editor.answer = (items) => items.find((i) => i.label.startsWith('#1 '));
    await nav.pickAndJump();
    assert.equal(where(editor, ws), 'src/a.ts:1');
    const items = editor.picks.at(-1)!.items;
    assert.deepEqual(
      items.map((i) => i.label),
      ['#4 src/c.ts:1', '#3 src/b.ts:200', '#2 src/b.ts:1', '#1 src/a.ts:1'],
    );
    assert.match(items[0]!.description, /← current$/);
    assert.equal(items[1]!.detail, 'const b200 = 200;');
    assert.equal(editor.reads.get(uri(ws.file('b.ts'))), 1, 'b.ts holds two nodes and is read once');
  });

  test('the tree view model and the status bar, from the server', async () => {
    await walk(s);
    const { nav, editor, server } = s;
    await nav.back();
    await nav.back();
    await nav.back();
    editor.open(ws.file('d.ts'));
    editor.moveTo(150);
    await nav.back();
    await nav.back();
    const status = asStatus(await server.command(SERVER_COMMANDS.status));
    assert.equal(statusText(status), '$(history) 0 · 2 branches', (await treeText(server)).join('\n'));
    await nav.jump(3);
    assert.equal(statusText(asStatus(await server.command(SERVER_COMMANDS.status))), '$(history) 2 · 1 branch');

    const model = new TreeModel(await nav.tree());
    const label = (id: number) => `${model.item(id)!.label} ${model.item(id)!.collapsible}`;
    assert.deepEqual(model.roots().map(label), ['#1 src/a.ts:1 expanded']);
    assert.deepEqual(model.children(1).map(label), ['#2 src/b.ts:1 expanded', '#5 src/d.ts:1 collapsed']);
    assert.deepEqual(model.children(2).map(label), ['#3 src/b.ts:200 none', '#4 src/c.ts:1 none']);
    assert.deepEqual(model.children(5).map(label), ['#6 src/d.ts:151 none']);
    assert.equal(model.item(3)!.current, true);
    assert.equal(model.item(3)!.description, 'jump  ← current');
    assert.deepEqual([3, 4, 2, 6, 5, 1].map((id) => model.parentItem(id)), [2, 2, 1, 5, 1, undefined]);
  });

  test('the server tells when the history changes', async () => {
    const { editor, server, nav } = s;
    editor.open(ws.file('a.ts'));
    editor.open(ws.file('b.ts'));
    await nav.back();
    await eventually(() => server.changes.length >= 3, 'three retrace/treeChanged notifications');
    assert.deepEqual(server.changes.at(-1), { current: 1, nodes: 2 });
  });

  test('the history outlives the server', async () => {
    await walk(s);
    await s.server.stop();
    s = await connect(ws);
    assert.equal((await nodes(s.server)).length, 4);
    await s.nav.back();
    assert.equal(where(s.editor, ws), 'src/b.ts:200');
  });

  test('with showDocument, the server moves the editor and the navigator leaves the move to it', async () => {
    await walk(s);
    const quiet = s.server.shown.length;
    await s.nav.back();
    assert.equal(s.server.shown.length, quiet, 'no showDocument unless asked for');
    s.tracker.dispose();
    await s.server.stop();
    s = await connect(ws, 10, { showDocument: true });
    await s.nav.back();
    await s.nav.jump(4);
    assert.equal(s.editor.place, undefined, 'the navigator did not move the editor itself');
    await eventually(() => s.server.shown.length === 2, 'two window/showDocument requests');
    assert.deepEqual(
      s.server.shown.map((p) => [path.relative(ws.root, new URL(p.uri).pathname), p.selection?.start.line, p.takeFocus]),
      [
        ['src/b.ts', 0, true],
        ['src/c.ts', 0, true],
      ],
    );
  });

  test('a moved-to file that was deleted is a warning, not an editor move', async () => {
    await walk(s);
    fs.rmSync(ws.file('b.ts'));
    await s.server.connection.sendNotification('workspace/didDeleteFiles', { files: [{ uri: uri(ws.file('b.ts')) }] });
    const outcome = await s.nav.back();
    assert.equal(outcome.location, null);
    assert.equal(where(s.editor, ws), 'src/c.ts:1');
    assert.equal(s.editor.messages.at(-1)!.level, 'warning');
    assert.match(s.editor.messages.at(-1)!.message, /src\/b\.ts was deleted/);
  });
});

describe('finding retrace-lsp', () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(fs.realpathSync(require('node:os').tmpdir()), 'retrace-bin-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  function script(name: string, body: string): string {
    const file = path.join(dir, name);
    fs.writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
    return file;
  }

  test('the built binary passes', async () => {
    const check = await checkServer(serverBinary());
    assert.ok(check.ok, JSON.stringify(check));
    assert.match(check.version, /^\d+\.\d+\.\d+/);
  });

  test('from PATH, by name', async () => {
    const check = await checkServer('', `${dir}:${path.dirname(serverBinary())}`);
    assert.ok(check.ok && check.path === serverBinary(), JSON.stringify(check));
  });

  test('missing: says where it looked and what to do', async () => {
    const check = await checkServer('', dir);
    assert.deepEqual(check, {
      ok: false,
      message:
        'Retrace: cannot find the retrace-lsp binary (looked for retrace-lsp on PATH). Install it from the ' +
        'Retrace repository with `cargo install --path lsp-server`, or set retrace.serverPath.',
    });
    const named = await checkServer('/nowhere/retrace-lsp');
    assert.ok(!named.ok && named.message.includes('(looked for /nowhere/retrace-lsp)'));
  });

  test('too old: names the versions', async () => {
    const old = script('old-retrace-lsp', 'echo "retrace-lsp 0.0.9"');
    const check = await checkServer(old);
    assert.deepEqual(check, {
      ok: false,
      message:
        `Retrace: ${old} is version 0.0.9, older than ${MINIMUM_SERVER_VERSION}, the oldest this extension ` +
        'works with. Update it: cargo install --path lsp-server.',
    });
  });

  test('something else, or broken', async () => {
    const other = script('other', 'echo "rust-analyzer 1.0.0"');
    const check = await checkServer(other);
    assert.ok(!check.ok && check.message.includes('is not retrace-lsp'));
    const broken = script('broken', 'echo oops >&2; exit 3');
    const failed = await checkServer(broken);
    assert.ok(!failed.ok && failed.message.includes('--version` failed') && failed.message.includes('oops'));
  });
});
