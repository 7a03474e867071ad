// A stand-in for the `vscode` module, just enough to construct a LanguageClient in node:
// every property is a stub that can be called, constructed, or read further.
import Module = require('node:module');

/** The few values the client reads as plain data. */
const VALUES: Record<string, unknown> = {
  'vscode.version': '1.82.0',
};

function stub(name: string): unknown {
  if (name in VALUES) {
    return VALUES[name];
  }
  const target = function () {
    /* stub */
  };
  return new Proxy(target, {
    get(_t, prop) {
      if (prop === 'then') {
        return undefined; // not a promise
      }
      if (prop === Symbol.toPrimitive) {
        return () => name;
      }
      if (prop === Symbol.iterator) {
        return function* () {
          /* empty */
        };
      }
      return stub(`${name}.${String(prop)}`);
    },
    apply() {
      return stub(`${name}()`);
    },
    construct() {
      return stub(`new ${name}`) as object;
    },
  });
}

/** The names bundled ESM code copies off the module (esbuild's interop reads own keys). */
const NAMESPACES = [
  'window',
  'workspace',
  'commands',
  'languages',
  'Uri',
  'Position',
  'Range',
  'Selection',
  'TextEditorRevealType',
  'TextEditorSelectionChangeKind',
  'StatusBarAlignment',
  'TreeItem',
  'TreeItemCollapsibleState',
  'ThemeIcon',
  'EventEmitter',
  'Disposable',
];

function vscodeModule(): unknown {
  const known: Record<string, unknown> = { version: VALUES['vscode.version'] };
  for (const name of NAMESPACES) {
    known[name] = stub(`vscode.${name}`);
  }
  return new Proxy(known, {
    get: (target, prop) => (prop in target ? target[prop as string] : stub(`vscode.${String(prop)}`)),
  });
}

/** Makes `require('vscode')` return the stand-in from now on. */
export function installFakeVscode(): void {
  const loader = Module as unknown as {
    _resolveFilename(request: string, ...rest: unknown[]): string;
  };
  const resolve = loader._resolveFilename;
  loader._resolveFilename = function (request: string, ...rest: unknown[]) {
    return request === 'vscode' ? 'vscode' : resolve.call(this, request, ...rest);
  };
  const cache = require.cache as Record<string, unknown>;
  cache['vscode'] = { id: 'vscode', filename: 'vscode', loaded: true, exports: vscodeModule() };
}
