// The "Retrace" tree view in the explorer: the history of the active workspace folder.
import * as vscode from 'vscode';

import { COMMANDS } from './commands';
import { TreeView } from './core/protocol';
import { Collapsible, TreeModel } from './core/treeModel';

const STATES: Record<Collapsible, vscode.TreeItemCollapsibleState> = {
  none: vscode.TreeItemCollapsibleState.None,
  collapsed: vscode.TreeItemCollapsibleState.Collapsed,
  expanded: vscode.TreeItemCollapsibleState.Expanded,
};

export class HistoryTreeProvider implements vscode.TreeDataProvider<number> {
  private model: TreeModel | undefined;
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.changed.event;

  constructor(private readonly load: () => Promise<TreeView | undefined>) {}

  /** Reloads the tree; resolves to the current node, if any. */
  async refresh(): Promise<number | undefined> {
    const tree = await this.load();
    this.model = tree ? new TreeModel(tree) : undefined;
    this.changed.fire();
    return tree?.current ?? undefined;
  }

  getChildren(element?: number): number[] {
    if (!this.model) {
      return [];
    }
    return element === undefined ? this.model.roots() : this.model.children(element);
  }

  getParent(element: number): number | undefined {
    return this.model?.parentItem(element);
  }

  getTreeItem(element: number): vscode.TreeItem {
    const view = this.model?.item(element);
    if (!view) {
      return new vscode.TreeItem(`#${element}`);
    }
    const item = new vscode.TreeItem(view.label, STATES[view.collapsible]);
    item.id = String(view.id);
    item.description = view.description;
    item.tooltip = view.tooltip;
    item.iconPath = new vscode.ThemeIcon(view.current ? 'debug-stackframe' : view.gone ? 'trash' : 'location');
    item.contextValue = view.current ? 'retrace.current' : 'retrace.node';
    item.command = { command: COMMANDS.jump, title: 'Jump Here', arguments: [view.id] };
    return item;
  }

  dispose(): void {
    this.changed.dispose();
  }
}
