// Static checks of package.json against the code: the contributed commands are the ids the
// code knows, keybindings and menus name them and leave VS Code's own navigation alone,
// settings match, and core/ stays free of vscode. That the extension activates, registers its
// commands and runs them is tested in VS Code itself (tests/editors/test_vscode.py).
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';

import { COMMANDS, SETTINGS, VIEW_ID } from '../src/commands';

const ROOT = path.resolve(__dirname, '..', '..');
const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));

interface Contributed {
  command: string;
  key?: string;
  mac?: string;
}

test('contributes.commands are exactly the command ids of the code', () => {
  const contributed = (manifest.contributes.commands as Contributed[]).map((c) => c.command).sort();
  assert.deepEqual(contributed, Object.values(COMMANDS).sort());
});

test('keybindings and menus name contributed commands and leave VS Code navigation alone', () => {
  const ids = new Set(Object.values(COMMANDS) as string[]);
  const bindings = manifest.contributes.keybindings as Contributed[];
  assert.ok(bindings.length >= 4);
  // VS Code's Go Back / Go Forward, on every platform.
  const theirs = new Set(['alt+left', 'alt+right', 'ctrl+alt+-', 'ctrl+shift+-', 'ctrl+-', 'ctrl+shift+-']);
  for (const b of bindings) {
    assert.ok(ids.has(b.command), `keybinding for unknown command ${b.command}`);
    for (const key of [b.key, b.mac].filter(Boolean) as string[]) {
      assert.ok(!theirs.has(key) && !key.startsWith('alt+left') && !key.startsWith('alt+right'), key);
    }
  }
  assert.ok(!JSON.stringify(manifest.contributes).includes('workbench.action.navigate'));
  for (const items of Object.values(manifest.contributes.menus) as Contributed[][]) {
    for (const item of items) {
      assert.ok(ids.has(item.command), `menu item for unknown command ${item.command}`);
    }
  }
});

test('the Retrace view sits in the explorer', () => {
  const views = manifest.contributes.views.explorer as { id: string; name: string }[];
  assert.deepEqual(views.map((v) => [v.id, v.name]), [[VIEW_ID, 'Retrace']]);
});

test('settings in package.json are the ones the code reads', () => {
  const declared = Object.keys(manifest.contributes.configuration.properties).sort();
  assert.deepEqual(declared, Object.values(SETTINGS).sort());
});

test('engines and dependencies', () => {
  assert.equal(manifest.engines.vscode, '^1.82.0');
  assert.match(manifest.dependencies['vscode-languageclient'], /^\^?9\./);
  assert.equal(manifest.main, './dist/extension.js');
});

test('core/ knows nothing of the vscode API', () => {
  const core = path.join(ROOT, 'src', 'core');
  for (const file of fs.readdirSync(core)) {
    const text = fs.readFileSync(path.join(core, file), 'utf8');
    assert.doesNotMatch(text, /from ['"]vscode(-languageclient[^'"]*)?['"]|require\(['"]vscode['"]\)/, file);
  }
});
