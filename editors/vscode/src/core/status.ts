// The status bar item's text. Pure.
import { StatusView } from './protocol';

/** "$(history) 3 · 2 branches": depth below the root, and the branches leading on from here. */
export function statusText(status: StatusView): string {
  if (!status.node) {
    return '$(history) no history';
  }
  const branches = status.branches === 1 ? '1 branch' : `${status.branches} branches`;
  return `$(history) ${status.depth} · ${branches}`;
}

export function statusTooltip(status: StatusView): string {
  const at = status.node ? `${status.node.path}:${status.node.line + 1}` : 'nowhere yet';
  return [
    `Retrace: at ${at}`,
    `depth ${status.depth} from the oldest place, ${status.branches} way${status.branches === 1 ? '' : 's'} on from here`,
    `${status.nodes} place${status.nodes === 1 ? '' : 's'} in the history of ${status.workspace}`,
    `${status.sessions} editor session${status.sessions === 1 ? '' : 's'} open on it`,
    `stored in ${status.database}`,
    'Click to show the tree',
  ].join('\n');
}
