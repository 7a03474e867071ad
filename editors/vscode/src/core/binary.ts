// Finding retrace-lsp and checking its version before starting it, so a missing or old
// binary is one clear message instead of a client that fails to start. Node only, no vscode.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { MINIMUM_SERVER_VERSION, parseVersion, versionAtLeast } from './protocol';

export type ServerCheck = { ok: true; path: string; version: string } | { ok: false; message: string };

const INSTALL = 'Install it from the Retrace repository with `cargo install --path lsp-server`';

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

function expandHome(p: string): string {
  return p === '~' || p.startsWith('~/') ? path.join(os.homedir(), p.slice(1)) : p;
}

/** The binary `setting` names (a path, or a name looked up on PATH; empty: retrace-lsp). */
export function resolveServer(setting: string, envPath: string = process.env.PATH ?? ''): string | undefined {
  const wanted = expandHome(setting.trim()) || 'retrace-lsp';
  const names = process.platform === 'win32' && !wanted.endsWith('.exe') ? [wanted, `${wanted}.exe`] : [wanted];
  if (wanted.includes('/') || wanted.includes(path.sep)) {
    return names.map((n) => path.resolve(n)).find(isExecutable);
  }
  for (const dir of envPath.split(path.delimiter).filter(Boolean)) {
    const found = names.map((n) => path.join(dir, n)).find(isExecutable);
    if (found) {
      return found;
    }
  }
  return undefined;
}

export function missingMessage(setting: string): string {
  const wanted = setting.trim() || 'retrace-lsp';
  const where = wanted.includes('/') ? wanted : `${wanted} on PATH`;
  return `Retrace: cannot find the retrace-lsp binary (looked for ${where}). ${INSTALL}, or set retrace.serverPath.`;
}

export function tooOldMessage(found: string, version: string | undefined): string {
  return (
    `Retrace: ${found} is version ${version ?? 'unknown'}, older than ${MINIMUM_SERVER_VERSION}, ` +
    `the oldest this extension works with. Update it: cargo install --path lsp-server.`
  );
}

/**
 * Why the server that answered `initialize` (its `serverInfo`) cannot be used, if it cannot:
 * the binary checked before may have been replaced since, or lie in `--version`.
 */
export function serverInfoProblem(found: string, info: { name: string; version?: string } | undefined): string | undefined {
  if (info?.name !== 'retrace-lsp') {
    return `Retrace: ${found} answered as ${info?.name ?? 'an unnamed server'}, not as retrace-lsp. Check retrace.serverPath.`;
  }
  return versionAtLeast(info.version) ? undefined : tooOldMessage(found, info.version);
}

function run(file: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: 10_000 }, (error, stdout, stderr) => {
      if (error) {
        reject(new Error(`${error.message.trim()}${stderr ? `: ${stderr.trim()}` : ''}`));
      } else {
        resolve(stdout.trim());
      }
    });
  });
}

/** Finds the binary and checks that it is a recent enough retrace-lsp. */
export async function checkServer(setting: string, envPath?: string): Promise<ServerCheck> {
  const found = resolveServer(setting, envPath);
  if (!found) {
    return { ok: false, message: missingMessage(setting) };
  }
  let output: string;
  try {
    output = await run(found, ['--version']);
  } catch (e) {
    return {
      ok: false,
      message: `Retrace: \`${found} --version\` failed (${(e as Error).message}). ${INSTALL}, or set retrace.serverPath.`,
    };
  }
  if (!output.startsWith('retrace-lsp ')) {
    return { ok: false, message: `Retrace: ${found} is not retrace-lsp (it says "${output}"). Check retrace.serverPath.` };
  }
  if (!versionAtLeast(output)) {
    const v = parseVersion(output);
    return { ok: false, message: tooOldMessage(found, v ? v.join('.') : undefined) };
  }
  return { ok: true, path: found, version: output.slice('retrace-lsp '.length) };
}
