use super::*;

#[test]
fn links_are_judged_without_following() {
    assert!(link_stays_inside(Path::new("a/link"), Path::new("../b")));
    assert!(link_stays_inside(
        Path::new("link"),
        Path::new("sub/./file")
    ));
    assert!(!link_stays_inside(
        Path::new("link"),
        Path::new("../outside")
    ));
    assert!(!link_stays_inside(
        Path::new("a/link"),
        Path::new("../../x")
    ));
    assert!(!link_stays_inside(
        Path::new("link"),
        Path::new("/etc/passwd")
    ));
    assert!(!link_stays_inside(
        Path::new("a/link"),
        Path::new("b/../../../x")
    ));
}

fn workspace() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(Some(&dir.path().join("store"))).unwrap();
    let ws = dir.path().join("ws");
    fs::create_dir_all(ws.join("src")).unwrap();
    fs::write(ws.join("src/main.c"), "int main(){}").unwrap();
    fs::write(ws.join("run.sh"), "#!/bin/sh\n").unwrap();
    fs::set_permissions(ws.join("run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink("src/main.c", ws.join("inside")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", ws.join("outside")).unwrap();
    (dir, store)
}

#[test]
fn snapshot_is_content_addressed_and_skips_escaping_links() {
    let (dir, store) = workspace();
    let ws = dir.path().join("ws");
    let a = snapshot(&store, &ws, &Selection::default()).unwrap();
    assert_eq!(a.skipped_links, vec!["outside".to_string()]);
    assert!(matches!(
        a.entries["run.sh"],
        Entry::File { exec: true, .. }
    ));
    assert!(matches!(&a.entries["inside"], Entry::Link { target } if target == "src/main.c"));
    let again = snapshot(&store, &ws, &Selection::default()).unwrap();
    assert_eq!(a.hash, again.hash);
    fs::write(ws.join("src/main.c"), "int main(){return 1;}").unwrap();
    let changed = snapshot(&store, &ws, &Selection::default()).unwrap();
    assert_ne!(a.hash, changed.hash);
    let excluded = snapshot(
        &store,
        &ws,
        &Selection {
            exclude: vec!["src/**".into()],
            ..Default::default()
        },
    )
    .unwrap();
    assert!(!excluded.entries.contains_key("src/main.c"));
}

/// Issue 15: without git this test passed without a word.
#[test]
fn without_git_the_git_test_is_skipped_visibly() {
    crate::testenv::assert_skips_visibly(
        "codesnap::tests::git_ignored_files_are_left_out_unless_included",
        &[("PATH", "/nonexistent")],
    );
}

#[test]
fn git_ignored_files_are_left_out_unless_included() {
    if !crate::testenv::require(
        tools::exists("git"),
        "git (`apt-get install git`, or scripts/setup)",
    ) {
        return;
    }
    let (dir, store) = workspace();
    let ws = dir.path().join("ws");
    tools::run(
        "git",
        [
            "-C".as_ref(),
            ws.as_os_str(),
            "init".as_ref(),
            "-q".as_ref(),
        ],
        None,
    )
    .unwrap();
    fs::write(ws.join(".gitignore"), "target/\n").unwrap();
    fs::create_dir(ws.join("target")).unwrap();
    fs::write(ws.join("target/bin"), "built").unwrap();
    let plain = snapshot(&store, &ws, &Selection::default()).unwrap();
    assert!(plain.entries.contains_key("run.sh") && plain.entries.contains_key(".gitignore"));
    assert!(!plain.entries.contains_key("target/bin"));
    let with = snapshot(
        &store,
        &ws,
        &Selection {
            include: vec!["target/bin".into()],
            ..Default::default()
        },
    )
    .unwrap();
    assert!(with.entries.contains_key("target/bin"));
}

#[test]
fn diff_names_added_modified_and_removed_paths() {
    let (dir, store) = workspace();
    let ws = dir.path().join("ws");
    let a = snapshot(&store, &ws, &Selection::default()).unwrap();
    fs::write(ws.join("src/main.c"), "int main(){return 2;}").unwrap();
    fs::write(ws.join("new.txt"), "new").unwrap();
    fs::remove_file(ws.join("run.sh")).unwrap();
    let b = snapshot(&store, &ws, &Selection::default()).unwrap();
    let d: Vec<String> = diff(&a, &b).iter().map(|c| c.to_string()).collect();
    assert_eq!(d, ["+new.txt", "-run.sh", "src/main.c"]);
    assert!(diff(&a, &a).is_empty());
}

#[test]
fn small_and_large_files_are_stored_as_they_are() {
    let (dir, store) = workspace();
    let ws = dir.path().join("ws");
    let sizes = [READ_WHOLE as usize, READ_WHOLE as usize + 1, 3 << 20];
    for (i, size) in sizes.iter().enumerate() {
        let bytes: Vec<u8> = (0..*size).map(|b| (b * 7 + i) as u8).collect();
        fs::write(ws.join(format!("f{i}")), bytes).unwrap();
    }
    let tree = snapshot(&store, &ws, &Selection::default()).unwrap();
    for i in 0..sizes.len() {
        let Entry::File { sha256, exec, .. } = &tree.entries[&format!("f{i}")] else {
            panic!("f{i} is a file");
        };
        let blob = blob_path(&store, sha256, *exec);
        assert_eq!(
            fs::read(&blob).unwrap(),
            fs::read(ws.join(format!("f{i}"))).unwrap()
        );
        assert_eq!(&crate::store::sha256_file(&blob).unwrap(), sha256);
    }
    // Without its stat cache, the same content hashes to the same blobs again.
    fs::remove_dir_all(store.code_dir().join("index")).unwrap();
    assert_eq!(
        snapshot(&store, &ws, &Selection::default()).unwrap().hash,
        tree.hash
    );
}

#[test]
fn disk_holds_the_tree() {
    let (dir, store) = workspace();
    let tree = snapshot(&store, &dir.path().join("ws"), &Selection::default()).unwrap();
    let disk = disk(&store, &tree).unwrap();
    assert!(disk.exists());
    assert_eq!(
        fs::metadata(&disk).unwrap().permissions().mode() & 0o777,
        0o444
    );
}
