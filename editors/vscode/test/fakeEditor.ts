// An editor for the Navigator and the VisitTracker, standing in for VS Code's: it keeps a
// cursor, fires the events VS Code fires when a document is shown (some while the reveal is
// in flight, some after it), and answers QuickPicks as the test says.
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';

import { EditorPort } from '../src/core/navigator';
import { ChoiceItem } from '../src/core/outcome';
import { Location } from '../src/core/protocol';
import { Place, SelectionKind, VisitTracker } from '../src/core/visits';
import { uri } from './harness';

export class FakeEditor implements EditorPort {
  place: Place | undefined;
  readonly versions = new Map<string, number>();
  readonly messages: { level: string; message: string }[] = [];
  /** How many times each file was read for previews. */
  readonly reads = new Map<string, number>();
  picks: { title: string; items: ChoiceItem[] }[] = [];
  /** Which item a QuickPick answers with (undefined: dismissed). */
  answer: (items: ChoiceItem[]) => ChoiceItem | undefined = () => undefined;
  tracker!: VisitTracker;

  private at(u: string, line: number, character = 0): Place {
    return { uri: u, line, character, version: this.versions.get(u) ?? 1 };
  }

  // --- what the user does ---------------------------------------------------------------
  open(file: string, line = 0): void {
    this.place = this.at(uri(file), line);
    this.tracker.editorChanged(this.place);
    this.tracker.selectionChanged(this.place, 'other');
    this.tracker.flush();
  }

  moveTo(line: number, kind: SelectionKind = 'keyboard'): void {
    this.place = this.at(this.place!.uri, line);
    this.tracker.selectionChanged(this.place, kind);
    this.tracker.flush();
  }

  type(lines: number): void {
    const u = this.place!.uri;
    this.versions.set(u, (this.versions.get(u) ?? 1) + 1);
    this.moveTo(this.place!.line + lines, 'other');
  }

  // --- EditorPort -----------------------------------------------------------------------
  async reveal(location: Location): Promise<Place> {
    const target = this.at(location.uri, location.range.start.line, location.range.start.character);
    // VS Code announces the new editor while the reveal is under way...
    this.tracker.editorChanged(target);
    this.place = target;
    await new Promise((r) => setImmediate(r));
    // ...and the selection event may follow after it resolved (read, like the extension
    // does, from the editor as it is when the event is handled).
    setImmediate(() => {
      this.tracker.selectionChanged(this.place!, 'command');
      this.tracker.flush();
    });
    return target;
  }

  async pick(items: ChoiceItem[], title: string): Promise<number | undefined> {
    this.picks.push({ title, items });
    return this.answer(items)?.node;
  }

  lines(u: string): readonly string[] | undefined {
    this.reads.set(u, (this.reads.get(u) ?? 0) + 1);
    try {
      return fs.readFileSync(fileURLToPath(u), 'utf8').split('\n');
    } catch {
      return undefined;
    }
  }

  show(level: 'info' | 'warning', message: string): void {
    this.messages.push({ level, message });
  }
}
