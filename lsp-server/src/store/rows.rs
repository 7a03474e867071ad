//! Rows in and out: loading the tree, syncing it with other processes' commits, and
//! persisting one operation's [`Change`]s. Only this module and its parent know SQL.

use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::{REMOVED_KEEP, Synced};
use crate::tree::{Change, File, FileId, NodeId, NodeRecord, Reason, SessionId, Tree};

pub(super) fn schema_version(conn: &Connection) -> rusqlite::Result<usize> {
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
}

pub(super) fn data_version(tx: &Transaction) -> rusqlite::Result<i64> {
    tx.pragma_query_value(None, "data_version", |r| r.get(0))
}

fn revision(tx: &Transaction) -> rusqlite::Result<(i64, i64, i64, i64)> {
    tx.query_row(
        "SELECT rev, next_node, next_file, removed_floor FROM revision WHERE id = 0",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )
}

pub(super) fn load_all(
    tx: &Transaction,
    tree: &mut Tree,
    schema: usize,
) -> rusqlite::Result<Synced> {
    let (rev, next_node, next_file, _) = revision(tx)?;
    let count: i64 = tx.query_row("SELECT count(*) FROM nodes", [], |r| r.get(0))?;
    tree.reserve(usize::try_from(count).unwrap_or(0));
    load_files(tx, tree, -1)?;
    load_nodes(tx, tree, -1, schema)?;
    load_cursors(tx, tree)?;
    tree.reserve_ids(next_node, next_file);
    Ok(Synced {
        rev,
        data_version: data_version(tx)?,
        reloaded: true,
        committed: true,
        ..Synced::default()
    })
}

/// Applies what others committed since `rev`, and says what it was.
pub(super) fn sync(
    tx: &Transaction,
    tree: &mut Tree,
    rev: i64,
    dv: i64,
    schema: usize,
) -> rusqlite::Result<Synced> {
    let now_dv = data_version(tx)?;
    if now_dv == dv && rev >= 0 {
        return Ok(Synced {
            rev,
            data_version: dv,
            ..Synced::default()
        });
    }
    let (db_rev, next_node, next_file, floor) = revision(tx)?;
    // Behind the removals log, or a different file (moved aside and started anew).
    if rev < 0 || rev < floor || db_rev < rev {
        *tree = Tree::new(tree.limit());
        return load_all(tx, tree, schema);
    }
    let mut synced = Synced {
        rev: db_rev,
        data_version: now_dv,
        committed: true,
        ..Synced::default()
    };
    if db_rev != rev {
        synced.files = load_files(tx, tree, rev)?;
        synced.nodes = load_nodes(tx, tree, rev, schema)?;
        let mut stmt = tx.prepare_cached("SELECT node FROM removed WHERE rev > ?1")?;
        let removed = stmt
            .query_map([rev], |r| r.get::<_, i64>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        for id in removed {
            let id = NodeId(id);
            if tree.node(id).is_some() {
                tree.unload_node(id);
                synced.removed.push(id);
            }
        }
        tree.repair_root();
        tree.reserve_ids(next_node, next_file);
    }
    load_cursors(tx, tree)?;
    Ok(synced)
}

/// Loads the files written after revision `since`; returns their ids.
fn load_files(tx: &Transaction, tree: &mut Tree, since: i64) -> rusqlite::Result<Vec<FileId>> {
    let mut stmt = tx.prepare_cached("SELECT id, uri, gone FROM files WHERE rev > ?1")?;
    let rows = stmt.query_map([since], |r| {
        Ok(File {
            id: FileId(r.get(0)?),
            uri: Arc::from(r.get::<_, String>(1)?),
            gone: r.get(2)?,
        })
    })?;
    let mut ids = Vec::new();
    for f in rows {
        let f = f?;
        ids.push(f.id);
        tree.load_file(f);
    }
    Ok(ids)
}

/// Loads the nodes written after revision `since`; returns their ids.
fn load_nodes(
    tx: &Transaction,
    tree: &mut Tree,
    since: i64,
    schema: usize,
) -> rusqlite::Result<Vec<NodeId>> {
    // Ascending ids: parents come before their children.
    let mut stmt = tx.prepare_cached(if schema >= 3 {
        "SELECT id, parent, file, line, character, reason, created_ms, visited_ms, visits,
                approximate
         FROM nodes WHERE rev > ?1 ORDER BY id"
    } else {
        "SELECT id, parent, file, line, character, reason, created_ms, visited_ms, visits, 0
         FROM nodes WHERE rev > ?1 ORDER BY id"
    })?;
    let rows = stmt.query_map([since], |r| {
        Ok(NodeRecord {
            id: NodeId(r.get(0)?),
            parent: r.get::<_, Option<i64>>(1)?.map(NodeId),
            file: FileId(r.get(2)?),
            line: r.get(3)?,
            character: r.get(4)?,
            reason: Reason::from_name(&r.get::<_, String>(5)?),
            created_ms: r.get(6)?,
            visited_ms: r.get(7)?,
            visits: r.get(8)?,
            approximate: r.get(9)?,
        })
    })?;
    let mut ids = Vec::new();
    for n in rows {
        let n = n?;
        ids.push(n.id);
        tree.load_node(n);
    }
    Ok(ids)
}

fn load_cursors(tx: &Transaction, tree: &mut Tree) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare_cached("SELECT id, node FROM sessions WHERE node IS NOT NULL")?;
    let cursors = stmt
        .query_map([], |r| {
            Ok((Arc::from(r.get::<_, String>(0)?), NodeId(r.get(1)?)))
        })?
        .collect::<rusqlite::Result<Vec<(SessionId, NodeId)>>>()?;
    tree.load_cursors(cursors);
    Ok(())
}

pub(super) fn persist(
    tx: &Transaction,
    tree: &Tree,
    changes: &[Change],
    rev: i64,
) -> rusqlite::Result<()> {
    let mut node_stmt = tx.prepare_cached(
        "INSERT OR REPLACE INTO nodes
           (id, parent, file, line, character, reason, created_ms, visited_ms, visits, rev,
            approximate)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?;
    let mut file_stmt = tx.prepare_cached(
        "INSERT OR REPLACE INTO files (id, uri, gone, rev) VALUES (?1, ?2, ?3, ?4)",
    )?;
    let mut removed_stmt = tx.prepare_cached("DELETE FROM nodes WHERE id = ?1")?;
    let mut removed_log =
        tx.prepare_cached("INSERT OR REPLACE INTO removed (node, rev) VALUES (?1, ?2)")?;
    let mut cursor_stmt = tx.prepare_cached("UPDATE sessions SET node = ?2 WHERE id = ?1")?;
    let mut event_stmt = tx.prepare_cached(
        "INSERT INTO events (at_ms, session, kind, node, uri, line) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    let mut active_stmt =
        tx.prepare_cached("UPDATE sessions SET active_ms = max(active_ms, ?2) WHERE id = ?1")?;
    let mut pruned = 0;
    for change in changes {
        match change {
            Change::Node(id) => {
                // Added and pruned in one operation: its removal follows.
                let Some(n) = tree.node(*id) else { continue };
                node_stmt.execute(params![
                    n.id.0,
                    n.parent.map(|p| p.0),
                    n.file.0,
                    n.line,
                    n.character,
                    n.reason.as_str(),
                    n.created_ms,
                    n.visited_ms,
                    n.visits,
                    rev,
                    n.approximate
                ])?;
            }
            Change::File(id) => {
                let Some(f) = tree.file(*id) else { continue };
                file_stmt.execute(params![f.id.0, &*f.uri, f.gone, rev])?;
            }
            Change::NodeRemoved(id) => {
                removed_stmt.execute([id.0])?;
                removed_log.execute([id.0, rev])?;
                pruned += 1;
            }
            Change::Cursor(session) => {
                cursor_stmt.execute(params![&**session, tree.cursor(session).map(|n| n.0)])?;
            }
            Change::Arrived {
                session,
                node,
                how,
                at_ms,
            } => {
                let Some(n) = tree.node(*node) else { continue };
                event_stmt.execute(params![
                    at_ms,
                    &**session,
                    how.as_str(),
                    node.0,
                    tree.uri_of(n),
                    n.line
                ])?;
                active_stmt.execute(params![&**session, at_ms])?;
            }
        }
    }
    let (next_node, next_file) = tree.next_ids();
    tx.execute(
        "UPDATE revision SET rev = ?1, next_node = max(next_node, ?2), next_file = max(next_file, ?3)
         WHERE id = 0",
        params![rev, next_node, next_file],
    )?;
    if pruned > 0 {
        forget_old_removals(tx)?;
        // Anchoring data only for files that still hold nodes.
        tx.execute(
            "DELETE FROM file_lines
             WHERE NOT EXISTS (SELECT 1 FROM nodes WHERE nodes.file = file_lines.file)",
            [],
        )?;
    }
    Ok(())
}

/// Keeps the pruned-ids log bounded; readers behind the floor reload in full.
fn forget_old_removals(tx: &Transaction) -> rusqlite::Result<()> {
    let count: i64 = tx.query_row("SELECT count(*) FROM removed", [], |r| r.get(0))?;
    if count <= REMOVED_KEEP {
        return Ok(());
    }
    let floor: i64 = tx.query_row(
        "SELECT rev FROM removed ORDER BY rev DESC LIMIT 1 OFFSET ?1",
        [REMOVED_KEEP / 2],
        |r| r.get(0),
    )?;
    tx.execute("DELETE FROM removed WHERE rev <= ?1", [floor])?;
    tx.execute(
        "UPDATE revision SET removed_floor = ?1 WHERE id = 0",
        [floor],
    )?;
    Ok(())
}

/// The hashes of a file's lines at its last known state, if stored.
pub(super) fn file_lines(tx: &Transaction, file: FileId) -> rusqlite::Result<Option<Vec<u32>>> {
    let mut stmt = tx.prepare_cached("SELECT hashes FROM file_lines WHERE file = ?1")?;
    stmt.query_row([file.0], |r| r.get::<_, Vec<u8>>(0))
        .optional()
        .map(|b| b.map(|b| crate::anchor::hashes_from_bytes(&b)))
}

/// Stores the hashes of a file's lines, if the file holds nodes (`None`: drops them).
pub(super) fn set_file_lines(
    tx: &Transaction,
    file: FileId,
    hashes: Option<&[u32]>,
) -> rusqlite::Result<()> {
    let Some(hashes) = hashes else {
        let mut stmt = tx.prepare_cached("DELETE FROM file_lines WHERE file = ?1")?;
        stmt.execute([file.0])?;
        return Ok(());
    };
    let mut stmt = tx.prepare_cached(
        "INSERT OR REPLACE INTO file_lines (file, hashes)
         SELECT ?1, ?2 WHERE EXISTS (SELECT 1 FROM nodes WHERE file = ?1)",
    )?;
    stmt.execute(params![file.0, crate::anchor::hashes_to_bytes(hashes)])?;
    Ok(())
}
