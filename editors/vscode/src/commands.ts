// The extension's command ids (contributes.commands in package.json) and its tree view.
// No `vscode` here, so the manifest test can read them.

/**
 * The ids match the server's command names on purpose (`retrace.back`...): they are what the
 * user binds keys to. The server's own commands are sent with `workspace/executeCommand`
 * directly, never registered as VS Code commands (see `client.ts`).
 */
export const COMMANDS = {
  back: 'retrace.back',
  forward: 'retrace.forward',
  jump: 'retrace.jump',
  showTree: 'retrace.showTree',
  restartServer: 'retrace.restartServer',
} as const;

export type CommandName = keyof typeof COMMANDS;

/** The "Retrace" tree view in the explorer. */
export const VIEW_ID = 'retrace.history';

/** Settings read by the extension (contributes.configuration). */
export const SETTINGS = {
  serverPath: 'retrace.serverPath',
  forwardPolicy: 'retrace.forwardPolicy',
  jumpLines: 'retrace.jumpLines',
  serverOptions: 'retrace.serverOptions',
} as const;
