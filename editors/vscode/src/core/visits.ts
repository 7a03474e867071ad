// Notices where the user arrives by a jump and reports it as a `retrace/visit`. Pure: the
// extension feeds it editor events, the tests feed it their own.
//
// The rule, applied once the events of one user action have settled (an editor change is
// usually followed by the selection change that puts the cursor at its target):
//   * arriving in another file is a visit (`open` the first time this session, else
//     `switch`; `jump` when a command such as Go to Definition put the cursor there);
//   * within a file, a move of at least `jumpLines` lines is a visit, and so is a move by
//     a command (Go to Definition, Go to Symbol, Go to Bracket...) of more than 5 lines
//     (closer is the same place to the server); moves that come with an edit are not.
// Moves the extension makes itself (back, forward, jump) run inside `move()`, which takes
// where they land as the new baseline, so they are never reported.
import { Reason, VisitParams, visitParams } from './protocol';

/** Where the cursor is: a document (by URI and version) and a zero-based line and character. */
export interface Place {
  uri: string;
  line: number;
  character: number;
  /** The document's version: a change means the cursor moved because of an edit. */
  version: number;
}

export type SelectionKind = 'keyboard' | 'mouse' | 'command' | 'other';

/** The server's same-place window: closer than this is the same place. */
export const SAME_PLACE_LINES = 5;

export interface TrackerOptions {
  jumpLines(): number;
  send(visit: VisitParams): void;
  /** How long events settle before a decision; 0 decides only on `flush()`. */
  settleMs?: number;
}

interface Pending {
  place: Place;
  command: boolean;
}

export class VisitTracker {
  private last: Place | undefined;
  private pending: Pending | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private moving = 0;
  private readonly seen = new Set<string>();

  constructor(private readonly options: TrackerOptions) {}

  /** The active editor changed; `place` is undefined for anything not recorded. */
  editorChanged(place: Place | undefined): void {
    if (place) {
      this.note(place, false);
    }
  }

  /** The selection of the active editor changed. */
  selectionChanged(place: Place, kind: SelectionKind): void {
    this.note(place, kind === 'command');
  }

  private note(place: Place, command: boolean): void {
    if (this.moving > 0) {
      return;
    }
    // A command anywhere in one settling window makes the arrival a command's.
    const samePlace = this.pending?.place.uri === place.uri;
    this.pending = { place, command: command || (samePlace && this.pending!.command) };
    const settle = this.options.settleMs ?? 50;
    if (settle > 0) {
      if (this.timer) {
        clearTimeout(this.timer);
      }
      this.timer = setTimeout(() => this.flush(), settle);
    }
  }

  /** Decides on the settled events now. */
  flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const pending = this.pending;
    this.pending = undefined;
    if (!pending || this.moving > 0) {
      return;
    }
    const reason = this.reasonFor(this.last, pending);
    this.last = pending.place;
    this.seen.add(pending.place.uri);
    if (reason) {
      const p = pending.place;
      this.options.send(visitParams(p.uri, p.line, p.character, reason));
    }
  }

  private reasonFor(prev: Place | undefined, { place, command }: Pending): Reason | undefined {
    if (!prev || prev.uri !== place.uri) {
      if (command) {
        return 'jump';
      }
      return this.seen.has(place.uri) ? 'switch' : 'open';
    }
    if (place.version !== prev.version) {
      return undefined;
    }
    const span = Math.abs(place.line - prev.line);
    const jumpLines = this.options.jumpLines();
    if ((jumpLines > 0 && span >= jumpLines) || (command && span > SAME_PLACE_LINES)) {
      return 'jump';
    }
    return undefined;
  }

  /** Runs a move of the extension's own; where it lands is not a visit. */
  async move(go: () => Promise<Place | undefined>): Promise<Place | undefined> {
    this.moving++;
    this.pending = undefined;
    let landed: Place | undefined;
    try {
      landed = await go();
      return landed;
    } finally {
      this.moving--;
      if (landed) {
        this.last = landed;
        this.seen.add(landed.uri);
      }
    }
  }

  /** Where the user was at the last decision. */
  get place(): Place | undefined {
    return this.last;
  }

  dispose(): void {
    if (this.timer) {
      clearTimeout(this.timer);
    }
  }
}
