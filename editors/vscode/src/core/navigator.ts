// Back, forward and jump: ask the server to move its cursor, then move the editor where the
// Outcome says, asking which branch when there are several. Pure: the server is behind a
// `Transport`, the editor behind an `EditorPort`.
import { ChoiceItem, actionFor, byRecency, choiceItems } from './outcome';
import {
  ForwardPolicy,
  Location,
  NodeView,
  Outcome,
  SERVER_COMMANDS,
  TreeView,
  asOutcome,
  asTree,
} from './protocol';
import { Place, VisitTracker } from './visits';

export interface Transport {
  /** `workspace/executeCommand` with one optional argument object. */
  command(name: string, argument?: object): Promise<unknown>;
}

export interface EditorPort {
  /** Shows `location` in an editor; resolves to where the cursor ended up. */
  reveal(location: Location): Promise<Place | undefined>;
  /** Lets the user pick one item; resolves to its node, or undefined when dismissed. */
  pick(items: ChoiceItem[], title: string): Promise<number | undefined>;
  /** The lines of a file (of its open document, if open), if it can be read. */
  lines(uri: string): readonly string[] | undefined;
  show(level: 'info' | 'warning', message: string): void;
}

export class Navigator {
  constructor(
    private readonly transport: Transport,
    private readonly editor: EditorPort,
    private readonly tracker: VisitTracker,
    private readonly now: () => number = Date.now,
    /** The server moves the editor itself (`window/showDocument`): a move is left to it. */
    private readonly serverMovesEditor = false,
  ) {}

  back(): Promise<Outcome> {
    return this.run(SERVER_COMMANDS.back);
  }

  /** Forward; where the history branches, asks, unless `policy` (or the server's default) says latest. */
  forward(policy?: ForwardPolicy): Promise<Outcome> {
    return this.run(SERVER_COMMANDS.forward, policy ? { policy } : undefined);
  }

  jump(node: number): Promise<Outcome> {
    return this.run(SERVER_COMMANDS.jump, { node });
  }

  async tree(): Promise<TreeView> {
    return asTree(await this.transport.command(SERVER_COMMANDS.tree, { format: 'json' }));
  }

  /** Lets the user pick any node, most recently visited first, and jumps there. */
  async pickAndJump(): Promise<Outcome | undefined> {
    const tree = await this.tree();
    const items = choiceItems(byRecency(tree.nodes), this.previews(), this.now());
    for (const item of items) {
      item.label = `#${item.node} ${item.label}`;
      if (item.node === tree.current) {
        item.description += '  ← current';
      }
    }
    const node = await this.editor.pick(items, 'Retrace: jump to');
    return node === undefined ? undefined : this.jump(node);
  }

  /** The text of a node's line, for one list of items: each file is read once, not once per node. */
  private previews(): (node: NodeView) => string | undefined {
    const files = new Map<string, readonly string[] | undefined>();
    return (node) => {
      if (!files.has(node.uri)) {
        files.set(node.uri, this.editor.lines(node.uri));
      }
      return files.get(node.uri)?.[node.line];
    };
  }

  private async run(command: string, argument?: object): Promise<Outcome> {
    const outcome = asOutcome(await this.transport.command(command, argument), command);
    return this.apply(outcome);
  }

  /** Carries out an Outcome; resolves to the last one (after a branch was chosen). */
  private async apply(outcome: Outcome): Promise<Outcome> {
    const action = actionFor(outcome);
    switch (action.kind) {
      case 'move':
        if (!this.serverMovesEditor) {
          await this.tracker.move(() => this.editor.reveal(action.location));
        }
        return outcome;
      case 'choose': {
        const items = choiceItems(action.choices, this.previews(), this.now());
        const node = await this.editor.pick(items, 'Retrace: forward to');
        return node === undefined ? outcome : this.run(SERVER_COMMANDS.forward, { node });
      }
      case 'inform':
        this.editor.show('info', `Retrace: ${action.message}`);
        return outcome;
      case 'warn':
        this.editor.show('warning', `Retrace: ${action.message}`);
        return outcome;
    }
  }
}
