// The language client leaves out vscode-languageclient's ExecuteCommandFeature, which would
// register the server's commands under the extension's own command ids (see src/client.ts).
import * as assert from 'node:assert/strict';
import { test } from 'node:test';

import { installFakeVscode } from './fakeVscode';

installFakeVscode();

test('the client has every feature but ExecuteCommandFeature', () => {
  // Loaded after the fake vscode module is in place.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { RetraceLanguageClient } = require('../src/client') as typeof import('../src/client');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { LanguageClient } = require('vscode-languageclient/node') as typeof import('vscode-languageclient/node');
  const options = { documentSelector: [] };
  const server = { command: 'retrace-lsp', args: ['--stdio'] };
  const ours = new RetraceLanguageClient('retrace', 'Retrace', server, options);
  const plain = new LanguageClient('plain', 'Plain', server, options);
  assert.ok(plain.getFeature('workspace/executeCommand'), 'a plain client registers server commands');
  assert.equal(ours.getFeature('workspace/executeCommand'), undefined);
  // the rest is untouched: renames and deletions still reach the server
  assert.ok(ours.getFeature('workspace/didRenameFiles'));
  assert.ok(ours.getFeature('workspace/didDeleteFiles'));
  const count = (c: object) => (c as unknown as { _features: unknown[] })._features.length;
  assert.equal(count(ours), count(plain) - 1);
});
