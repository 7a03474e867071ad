// Bundles the extension and vscode-languageclient into dist/extension.js (the vsix ships no
// node_modules), or into the file given as the argument (the manifest test loads that one).
// `vscode` is provided by the editor.
import { build } from 'esbuild';

await build({
  entryPoints: ['src/extension.ts'],
  outfile: process.argv[2] ?? 'dist/extension.js',
  bundle: true,
  external: ['vscode'],
  format: 'cjs',
  platform: 'node',
  target: 'node18',
  minify: true,
  keepNames: true,
  logLevel: 'warning',
});
