// Static checks of package.json against the code: every contributed command is registered
// and every registered command contributed, keybindings and menus name real commands and
// leave VS Code's own navigation alone, settings match, and core/ stays free of vscode.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';

import { COMMANDS, SETTINGS, VIEW_ID } from '../src/commands';

const ROOT = path.resolve(__dirname, '..', '..');
const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const source = (file: string) => fs.readFileSync(path.join(ROOT, 'src', file), 'utf8');

interface Contributed {
  command: string;
  key?: string;
  mac?: string;
}

test('contributes.commands are exactly the commands the extension registers', () => {
  const contributed = (manifest.contributes.commands as Contributed[]).map((c) => c.command).sort();
  assert.deepEqual(contributed, Object.values(COMMANDS).sort());
  // ...and extension.ts registers them all in one place, from COMMANDS, with a handler per
  // name (the Record<CommandName, ...> type makes a missing handler a compile error).
  const extension = source('extension.ts');
  const registrations = extension.match(/registerCommand\(/g) ?? [];
  assert.equal(registrations.length, 1, 'one registerCommand call, in the loop over COMMANDS');
  assert.match(extension, /registerCommand\(COMMANDS\[name\], handlers\[name\]\)/);
  assert.match(extension, /const handlers: Record<CommandName,/);
  for (const file of fs.readdirSync(path.join(ROOT, 'src'), { recursive: true }) as string[]) {
    if (file.endsWith('.ts') && file !== 'extension.ts') {
      assert.doesNotMatch(source(file), /registerCommand\(/, `${file} registers commands`);
    }
  }
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
  assert.match(source('extension.ts'), /createTreeView\(VIEW_ID/);
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

test('the bundle resolves everything but vscode and exports activate/deactivate', async () => {
  // esbuild.mjs itself builds it, into a temp dir; loaded against the stand-in vscode module.
  const os = await import('node:os');
  const { execFileSync } = await import('node:child_process');
  const { installFakeVscode } = await import('./fakeVscode');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'retrace-bundle-'));
  try {
    const outfile = path.join(dir, 'extension.js');
    execFileSync(process.execPath, ['esbuild.mjs', outfile], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
    installFakeVscode();
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const extension = require(outfile);
    assert.equal(typeof extension.activate, 'function');
    assert.equal(typeof extension.deactivate, 'function');
    const bundle = fs.readFileSync(outfile, 'utf8');
    for (const id of Object.values(COMMANDS)) {
      assert.ok(bundle.includes(`"${id}"`), `${id} is in the bundle`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
