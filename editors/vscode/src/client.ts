// The language client for one workspace folder.
import * as vscode from 'vscode';
import {
  CancellationToken,
  DynamicFeature,
  ExecuteCommandRequest,
  LanguageClient,
  LanguageClientOptions,
  RevealOutputChannelOn,
  ResponseError,
  ServerOptions,
  ShowDocumentParams,
  ShowDocumentRequest,
  ShowDocumentResult,
  StaticFeature,
} from 'vscode-languageclient/node';

import { InitializationOptions } from './core/protocol';

/** Whether a client feature is vscode-languageclient's ExecuteCommandFeature. */
export function isExecuteCommandFeature(feature: StaticFeature | DynamicFeature<unknown>): boolean {
  const registrationType = (feature as Partial<DynamicFeature<unknown>>).registrationType;
  return registrationType?.method === ExecuteCommandRequest.method;
}

/**
 * A LanguageClient without the ExecuteCommandFeature.
 *
 * That feature registers every command of the server's `executeCommandProvider`
 * (`retrace.back`, `retrace.forward`...) as a VS Code command of the same id. Those ids are
 * this extension's own commands, which move the editor once the server has answered, so the
 * registration would fail ("command already exists") and take the client down with it; with
 * one client per workspace folder, the second client would fail the same way even under
 * other names. The extension sends `workspace/executeCommand` itself (`sendRequest`).
 */
export class RetraceLanguageClient extends LanguageClient {
  override registerFeature(feature: StaticFeature | DynamicFeature<unknown>): void {
    if (!isExecuteCommandFeature(feature)) {
      super.registerFeature(feature);
    }
  }

  /** `workspace/executeCommand` for one of the server's commands. */
  command(name: string, argument?: object): Promise<unknown> {
    return this.sendRequest(ExecuteCommandRequest.type, {
      command: name,
      arguments: argument ? [argument] : [],
    });
  }
}

/**
 * Wraps the client's own handling of the server's `window/showDocument` (vscode-languageclient
 * opens the document), given as `show`: the extension makes it a move of its own, so the
 * arrival is not reported as a visit.
 */
export type ShowDocument = (
  params: ShowDocumentParams,
  show: (params: ShowDocumentParams) => Promise<ShowDocumentResult>,
) => Promise<ShowDocumentResult>;

/** The client's own `window/showDocument` handling, as a promise of its result. */
async function shown(next: ShowDocumentRequest.HandlerSignature, params: ShowDocumentParams): Promise<ShowDocumentResult> {
  const result = await next(params, CancellationToken.None);
  return result instanceof ResponseError ? { success: false } : result;
}

export function createClient(
  folder: vscode.WorkspaceFolder,
  serverPath: string,
  initializationOptions: InitializationOptions,
  output: vscode.OutputChannel,
  showDocument: ShowDocument,
): RetraceLanguageClient {
  const serverOptions: ServerOptions = { command: serverPath, args: ['--stdio'] };
  const clientOptions: LanguageClientOptions = {
    // The server needs no document contents: visits are reported by the extension, and
    // renames and deletions reach it through workspace/didRenameFiles and didDeleteFiles.
    documentSelector: [],
    workspaceFolder: folder,
    initializationOptions,
    outputChannel: output,
    revealOutputChannelOn: RevealOutputChannelOn.Never,
    middleware: { window: { showDocument: (params, next) => showDocument(params, (p) => shown(next, p)) } },
  };
  return new RetraceLanguageClient('retrace', `Retrace (${folder.name})`, serverOptions, clientOptions);
}
