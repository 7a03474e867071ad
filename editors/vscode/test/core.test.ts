// The pure parts of the extension, without a server.
import * as assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { serverInfoProblem, tooOldMessage } from '../src/core/binary';
import { actionFor, ago, byRecency, choiceItems } from '../src/core/outcome';
import {
  NodeView,
  Outcome,
  TreeView,
  VisitParams,
  initializationOptions,
  parseVersion,
  versionAtLeast,
} from '../src/core/protocol';
import { statusText } from '../src/core/status';
import { TreeModel } from '../src/core/treeModel';
import { Place, VisitTracker } from '../src/core/visits';

function node(id: number, parent: number | null, children: number[] = [], extra: Partial<NodeView> = {}): NodeView {
  return {
    id,
    parent,
    uri: `file:///ws/f${id}.ts`,
    path: `f${id}.ts`,
    line: id * 10,
    character: 0,
    reason: 'definition',
    createdMs: id,
    visitedMs: id,
    visits: 1,
    gone: false,
    children,
    ...extra,
  };
}

describe('versions', () => {
  test('parse and compare', () => {
    assert.deepEqual(parseVersion('retrace-lsp 0.1.0'), [0, 1, 0]);
    assert.deepEqual(parseVersion('1.2.3-dev'), [1, 2, 3]);
    assert.equal(parseVersion('none'), undefined);
    assert.ok(versionAtLeast('0.1.0', '0.1.0'));
    assert.ok(versionAtLeast('0.10.0', '0.9.9'));
    assert.ok(versionAtLeast('1.0.0', '0.99.99'));
    assert.ok(!versionAtLeast('0.0.9', '0.1.0'));
    assert.ok(!versionAtLeast(undefined, '0.1.0'));
  });

  test('the server that answered initialize', () => {
    assert.equal(serverInfoProblem('/bin/r', { name: 'retrace-lsp', version: '0.1.0' }), undefined);
    assert.equal(serverInfoProblem('/bin/r', { name: 'retrace-lsp', version: '0.0.9' }), tooOldMessage('/bin/r', '0.0.9'));
    const other = serverInfoProblem('/bin/r', { name: 'rust-analyzer', version: '1.0.0' });
    assert.match(other!, /answered as rust-analyzer, not as retrace-lsp/);
    assert.match(serverInfoProblem('/bin/r', undefined)!, /answered as an unnamed server/);
  });
});

describe('initialization options', () => {
  test("the user's serverOptions, under the extension's own", () => {
    const own = { sendsVisits: true, notifyChanges: true, forwardPolicy: 'latest' };
    assert.deepEqual(initializationOptions('latest'), own);
    assert.deepEqual(initializationOptions('latest', { nodeLimit: 9, showDocument: true, sendsVisits: false }), {
      nodeLimit: 9,
      showDocument: true,
      ...own,
    });
    for (const junk of [null, 'x', 3, ['a']]) {
      assert.deepEqual(initializationOptions('latest', junk), own);
    }
  });
});

describe('outcomes', () => {
  const base: Outcome = { status: 'moved', message: 'src/a.ts:3', node: null, location: null };
  const location = { uri: 'file:///ws/a.ts', range: { start: { line: 2, character: 1 }, end: { line: 2, character: 1 } } };

  test('what each status asks of the editor', () => {
    assert.deepEqual(actionFor({ ...base, location }), { kind: 'move', location, label: 'src/a.ts:3' });
    assert.deepEqual(actionFor({ ...base, message: 'x was deleted' }), { kind: 'warn', message: 'x was deleted' });
    assert.deepEqual(actionFor({ ...base, status: 'choose', choices: [node(2, 1)] }), {
      kind: 'choose',
      choices: [node(2, 1)],
    });
    for (const status of ['at-root', 'at-leaf', 'empty'] as const) {
      assert.deepEqual(actionFor({ ...base, status, message: status }), { kind: 'inform', message: status });
    }
  });

  test('choice items: place, reason and age, the line', () => {
    const now = 10 * 60_000;
    const items = choiceItems(
      [node(2, 1, [], { visitedMs: now - 5 * 60_000 }), node(3, 1, [], { gone: true })],
      (n) => `  line of ${n.id}  `,
      now,
    );
    assert.deepEqual(items, [
      { label: 'f2.ts:21', description: 'definition, 5 min ago', detail: 'line of 2', node: 2 },
      { label: 'f3.ts:31', description: 'definition [deleted], 10 min ago', node: 3 },
    ]);
    const long = choiceItems([node(4, 1)], () => 'x'.repeat(200), now)[0]!;
    assert.equal(long.detail!.length, 120);
    assert.equal(ago(0, 3 * 3600_000), '3 h ago');
    assert.equal(ago(0, 49 * 3600_000), '2 d ago');
    assert.deepEqual(byRecency([node(1, null), node(3, 1), node(2, 1)]).map((n) => n.id), [3, 2, 1]);
  });

  test('status text', () => {
    const status = { workspace: '/ws', database: '/db', nodes: 0, node: null, depth: 0, branches: 0, sessions: 1 };
    assert.equal(statusText(status), '$(history) no history');
    assert.equal(statusText({ ...status, node: node(1, null), depth: 4, branches: 0 }), '$(history) 4 · 0 branches');
  });
});

describe('the tree view model', () => {
  /** A random tree of `n` nodes (parents before children), seeded. */
  function randomTree(n: number, seed: number): TreeView {
    let state = seed;
    const random = () => {
      state = (state * 1103515245 + 12345) % 2147483648;
      return state / 2147483648;
    };
    const nodes = [node(1, null)];
    for (let id = 2; id <= n; id++) {
      // mostly chains, sometimes branches
      const parent = random() < 0.7 ? id - 1 : 1 + Math.floor(random() * (id - 1));
      nodes.push(node(id, parent));
      nodes[parent - 1]!.children.push(id);
    }
    return { workspace: '/ws', root: 1, current: 1 + Math.floor(random() * n), nodes };
  }

  test('every node shows once, under the item getParent names, expanded on the way to the current one', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const tree = randomTree(1 + (seed % 25), seed);
      const model = new TreeModel(tree);
      const seen = new Map<number, number | undefined>();
      const visit = (ids: number[], under: number | undefined) => {
        for (const id of ids) {
          assert.ok(!seen.has(id), `node ${id} shown twice (seed ${seed})`);
          seen.set(id, under);
          visit(model.children(id), id);
        }
      };
      visit(model.roots(), undefined);
      assert.equal(seen.size, tree.nodes.length, `every node is shown (seed ${seed})`);
      const ancestors = new Set<number>();
      for (let at = tree.nodes[tree.current! - 1]!; at.parent !== null; at = tree.nodes[at.parent - 1]!) {
        ancestors.add(at.parent);
      }
      for (const [id, under] of seen) {
        assert.equal(model.parentItem(id), under, `getParent(${id}) (seed ${seed})`);
        const item = model.item(id)!;
        const expandable = model.children(id).length > 0;
        assert.equal(item.collapsible, !expandable ? 'none' : ancestors.has(id) ? 'expanded' : 'collapsed');
        assert.equal(item.current, id === tree.current);
      }
    }
  });

  test('an empty history shows nothing', () => {
    const model = new TreeModel({ workspace: '/ws', root: null, current: null, nodes: [] });
    assert.deepEqual(model.roots(), []);
    assert.equal(model.item(1), undefined);
  });
});

describe('the visit tracker', () => {
  function tracker(jumpLines = 10) {
    const sent: VisitParams[] = [];
    const t = new VisitTracker({ jumpLines: () => jumpLines, send: (v) => sent.push(v), settleMs: 0 });
    const at = (file: string, line: number, version = 1): Place => ({ uri: `file:///ws/${file}`, line, character: 0, version });
    const log = () => sent.map((v) => `${v.uri.slice('file:///ws/'.length)}:${v.position.line} ${v.reason}`);
    return { t, at, log };
  }

  test('first arrival in a file is open, later ones switch', () => {
    const { t, at, log } = tracker();
    for (const place of [at('a', 0), at('b', 0), at('a', 3)]) {
      t.editorChanged(place);
      t.flush();
    }
    t.editorChanged(undefined); // an output panel, a settings editor: not recorded, not a move
    t.flush();
    assert.deepEqual(log(), ['a:0 open', 'b:0 open', 'a:3 switch']);
  });

  test('an editor change and the command selection that follows are one jump', () => {
    const { t, at, log } = tracker();
    t.editorChanged(at('a', 0));
    t.flush();
    t.editorChanged(at('b', 0));
    t.selectionChanged(at('b', 40), 'command');
    t.flush();
    assert.deepEqual(log(), ['a:0 open', 'b:40 jump']);
  });

  test('in a file: long moves and command moves past 5 lines; not edits, not short moves', () => {
    const { t, at, log } = tracker();
    t.editorChanged(at('a', 0));
    t.flush();
    const moves: [Place, 'keyboard' | 'command' | 'mouse'][] = [
      [at('a', 9), 'keyboard'], // 9 lines: no
      [at('a', 30), 'mouse'], // 21: yes
      [at('a', 35), 'command'], // 5: the same place
      [at('a', 41), 'command'], // 6: yes
      [at('a', 90, 2), 'keyboard'], // with an edit: no
      [at('a', 95, 2), 'keyboard'],
    ];
    for (const [place, kind] of moves) {
      t.selectionChanged(place, kind);
      t.flush();
    }
    assert.deepEqual(log(), ['a:0 open', 'a:30 jump', 'a:41 jump']);
  });

  test('jumpLines 0 leaves only command moves and file changes', () => {
    const { t, at, log } = tracker(0);
    t.editorChanged(at('a', 0));
    t.flush();
    t.selectionChanged(at('a', 150), 'keyboard');
    t.flush();
    t.selectionChanged(at('a', 10), 'command');
    t.flush();
    assert.deepEqual(log(), ['a:0 open', 'a:10 jump']);
  });

  test("the extension's own moves are not visits, and where they land is the new baseline", async () => {
    const { t, at, log } = tracker();
    t.editorChanged(at('a', 0));
    t.flush();
    await t.move(async () => {
      t.editorChanged(at('b', 70));
      t.selectionChanged(at('b', 70), 'command');
      t.flush();
      return at('b', 70);
    });
    t.selectionChanged(at('b', 70), 'command');
    t.flush();
    t.selectionChanged(at('b', 72), 'keyboard');
    t.flush();
    assert.deepEqual(log(), ['a:0 open']);
    t.selectionChanged(at('b', 100), 'keyboard');
    t.flush();
    assert.deepEqual(log(), ['a:0 open', 'b:100 jump']);
  });

  test('events settle before a decision', async () => {
    const sent: VisitParams[] = [];
    const t = new VisitTracker({ jumpLines: () => 10, send: (v) => sent.push(v), settleMs: 5 });
    const at = (line: number): Place => ({ uri: 'file:///ws/a', line, character: 0, version: 1 });
    t.editorChanged(at(0));
    t.selectionChanged(at(50), 'command');
    assert.equal(sent.length, 0);
    await new Promise((r) => setTimeout(r, 30));
    assert.deepEqual(sent.map((v) => [v.position.line, v.reason]), [[50, 'jump']]);
    t.dispose();
  });
});
