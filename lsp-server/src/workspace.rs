//! A workspace root, and the file URIs in it.
//!
//! Clients spell the same file differently (`file:///a%3Ab` and `file:///a:b`,
//! `file:///ws/sub/../a`), so every URI is normalised on the way in: decoded to a path
//! (what clients send raw, spaces and letters beyond ASCII, is accepted), its `.` and `..`
//! segments resolved, then encoded once, our way. Two spellings of one file are then one
//! string, which is what the tree compares, and the workspace check sees the real path.
//! URIs that name no file of this machine (another host, a NUL byte, a query, a path
//! longer than the system allows) are refused with the reason.

use std::borrow::Cow;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use fluent_uri::Uri;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_encode};

/// The longest path accepted (Linux's `PATH_MAX`): a longer one names no file anyone can
/// open, and would be stored for ever.
pub const MAX_PATH_BYTES: usize = 4096;
/// The longest URI looked at: a path of [`MAX_PATH_BYTES`] with every byte encoded.
const MAX_URI_BYTES: usize = 3 * MAX_PATH_BYTES + 64;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    #[error("`{0}` is not a valid URI; send an absolute `file://` URI")]
    Invalid(String),
    #[error(
        "`{0}` is not a `file://` URI; retrace records places in files on disk (scheme `{1}` is not supported)"
    )]
    NotAFile(String, String),
    #[error(
        "`{uri}` names a file on the host `{host}`; retrace records files of this machine (`file:///path` or `file://localhost/path`)"
    )]
    OtherHost { uri: String, host: String },
    #[error(
        "`{0}` has a `?query` or a `#fragment`, which a file URI does not; percent-encode `?` as %3F and `#` as %23 in file names"
    )]
    QueryOrFragment(String),
    #[error("`{0}` holds a NUL byte (%00), which no file name can hold")]
    Nul(String),
    #[error("the URI `{uri}` is longer than {max} bytes ({length}); no file has so long a path")]
    TooLong {
        uri: String,
        length: usize,
        max: usize,
    },
}

/// What a path keeps unencoded in a URI: RFC 3986's unreserved characters and `/` (as
/// LSP clients spell file URIs).
const PATH_KEEP: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// Turns a client's URI into the one spelling the tree uses: the path decoded, its `.`
/// and `..` segments resolved (so `WS/sub/../a` is `WS/a`, and `WS/../../etc` is `/etc`,
/// outside the workspace), then encoded our way.
pub fn normalize_uri(uri: &str) -> Result<String, UriError> {
    file_uri_path(uri).map(|p| uri_for_path(&p))
}

/// The normalised `file://` URI of an absolute path.
pub fn uri_for_path(path: &Path) -> String {
    format!(
        "file://{}",
        percent_encode(path.as_os_str().as_bytes(), PATH_KEEP)
    )
}

/// The path of a `file://` URI (normalised as [`normalize_uri`] does), if it is one.
pub fn path_for_uri(uri: &str) -> Option<PathBuf> {
    file_uri_path(uri).ok()
}

/// The absolute, dot-free path a `file://` URI names, or why it names none.
fn file_uri_path(uri: &str) -> Result<PathBuf, UriError> {
    if uri.len() > MAX_URI_BYTES {
        return Err(UriError::TooLong {
            uri: shown(uri),
            length: uri.len(),
            max: MAX_URI_BYTES,
        });
    }
    let escaped = escape_raw(uri);
    let parsed = Uri::parse(escaped.as_ref()).map_err(|_| UriError::Invalid(shown(uri)))?;
    let scheme = parsed.scheme().as_str().to_ascii_lowercase();
    if scheme != "file" {
        return Err(UriError::NotAFile(shown(uri), scheme));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(UriError::QueryOrFragment(shown(uri)));
    }
    if let Some(authority) = parsed.authority() {
        if authority.userinfo().is_some() || authority.port().is_some() {
            return Err(UriError::Invalid(shown(uri)));
        }
        let host = authority.host();
        if !host.is_empty() && !host.eq_ignore_ascii_case("localhost") {
            return Err(UriError::OtherHost {
                uri: shown(uri),
                host: crate::safe_text::sanitize(host, 100),
            });
        }
    }
    let bytes = parsed.path().decode().to_bytes();
    if bytes.contains(&0) {
        return Err(UriError::Nul(shown(uri)));
    }
    let path = Path::new(OsStr::from_bytes(&bytes));
    if !path.is_absolute() {
        return Err(UriError::Invalid(shown(uri)));
    }
    let path = without_dot_segments(path);
    let length = path.as_os_str().len();
    if length > MAX_PATH_BYTES {
        return Err(UriError::TooLong {
            uri: shown(uri),
            length,
            max: MAX_PATH_BYTES,
        });
    }
    Ok(path)
}

/// An absolute path with `.` and `..` resolved as RFC 3986 resolves them (lexically: `..`
/// at the root stays at the root) and repeated `/` made one.
fn without_dot_segments(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for component in path.components() {
        match component {
            Component::Normal(name) => out.push(name),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// Percent-encodes what clients send raw but a URI cannot hold (a space, non-ASCII
/// letters, a `%` that starts no escape...), so their URIs parse; what is already
/// encoded stays as it is.
fn escape_raw(uri: &str) -> Cow<'_, str> {
    let bytes = uri.as_bytes();
    let allowed = |i: usize| {
        let b = bytes[i];
        match b {
            b'%' => {
                bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                    && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
            }
            _ => b.is_ascii_alphanumeric() || b"-._~:/?#@!$&'()*+,;=".contains(&b),
        }
    };
    if (0..bytes.len()).all(allowed) {
        return Cow::Borrowed(uri);
    }
    let mut out = String::with_capacity(uri.len() + 16);
    for (i, &b) in bytes.iter().enumerate() {
        if allowed(i) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    Cow::Owned(out)
}

/// A client's URI as an error message shows it: cleaned, and cut.
fn shown(uri: &str) -> String {
    crate::safe_text::sanitize(uri, 200)
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workspace {
    root: PathBuf,
    root_uri: String,
}

impl Workspace {
    /// `root` should be absolute; it is made so against the current directory otherwise.
    /// Its `.` and `..` segments are resolved, as in URIs.
    pub fn new(root: impl Into<PathBuf>) -> Workspace {
        let mut root: PathBuf = root.into();
        if root.is_relative()
            && let Ok(cwd) = std::env::current_dir()
        {
            root = cwd.join(root);
        }
        if root.is_absolute() {
            root = without_dot_segments(&root);
        }
        let root_uri = uri_for_path(&root).trim_end_matches('/').to_owned();
        Workspace { root, root_uri }
    }

    pub fn from_uri(uri: &str) -> Result<Workspace, UriError> {
        file_uri_path(uri).map(Workspace::new)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn root_uri(&self) -> &str {
        &self.root_uri
    }

    /// Whether a normalised URI names a file inside this workspace.
    pub fn contains(&self, uri: &str) -> bool {
        uri.strip_prefix(&self.root_uri)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }

    /// How a person reads a URI: relative to the root inside the workspace, the absolute
    /// path outside it, the URI itself when it is not a file.
    pub fn display(&self, uri: &str) -> String {
        let Some(path) = path_for_uri(uri) else {
            return uri.to_owned();
        };
        match path.strip_prefix(&self.root) {
            Ok(rel) if !rel.as_os_str().is_empty() => rel.display().to_string(),
            _ => path.display().to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_file_normalise_to_one_uri() {
        let one = |a: &str, b: &str| {
            let a = normalize_uri(a).unwrap_or_else(|e| panic!("{a}: {e}"));
            let b = normalize_uri(b).unwrap_or_else(|e| panic!("{b}: {e}"));
            assert_eq!(a, b);
            a
        };
        let a = one(
            "file:///home/me/a%3Ab/x%20y.rs",
            "file:///home/me/a:b/x y.rs",
        );
        assert_eq!(
            path_for_uri(&a).unwrap(),
            PathBuf::from("/home/me/a:b/x y.rs")
        );
        // What clients send raw: spaces, letters beyond ASCII, a `%` that escapes nothing.
        let a = one(
            "file:///home/me/ö ü.rs",
            "file:///home/me/%C3%B6%20%c3%bc.rs",
        );
        assert_eq!(a, "file:///home/me/%C3%B6%20%C3%BC.rs");
        one("file:///home/me/100%.rs", "file:///home/me/100%25.rs");
        one("file://localhost/home/me/a.rs", "file:///home/me/a.rs");
        one("FILE:///home//me/./a.rs", "file:///home/me/a.rs");
        // A file name that is not UTF-8 is kept, byte for byte.
        let a = normalize_uri("file:///home/me/%FF.rs").unwrap();
        assert_eq!(a, "file:///home/me/%FF.rs");
        assert_eq!(
            path_for_uri(&a).unwrap().as_os_str().as_bytes(),
            b"/home/me/\xff.rs"
        );
    }

    #[test]
    fn dot_segments_are_resolved_before_the_workspace_check() {
        let ws = Workspace::new("/ws");
        for (uri, path) in [
            ("file:///ws/../../../etc/passwd", "/etc/passwd"),
            ("file:///ws/..%2F..%2F..%2Fetc/passwd", "/etc/passwd"),
            ("file:///ws/%2e%2e/etc/passwd", "/etc/passwd"),
            ("file:///ws/sub/../a.txt", "/ws/a.txt"),
            ("file:///ws/./sub/./a.txt", "/ws/sub/a.txt"),
            ("file:///../../ws/a.txt", "/ws/a.txt"),
        ] {
            let normal = normalize_uri(uri).unwrap();
            assert_eq!(normal, uri_for_path(Path::new(path)), "{uri}");
            assert_eq!(ws.contains(&normal), path.starts_with("/ws/"), "{uri}");
        }
        assert_eq!(Workspace::new("/ws/sub/..").root(), Path::new("/ws"));
    }

    #[test]
    fn uris_that_name_no_local_file_are_refused_with_the_reason() {
        let err = |uri: &str| normalize_uri(uri).unwrap_err().to_string();
        assert!(
            err("file:///ws/a%00.rs").contains("NUL"),
            "{}",
            err("file:///ws/a%00.rs")
        );
        assert!(err("file://otherhost/ws/a.rs").contains("on the host `otherhost`"));
        assert!(err("file://user@localhost/ws/a.rs").contains("not a valid URI"));
        assert!(err("file:///ws/a.rs#L3").contains("`#fragment`"));
        assert!(err("file:///ws/a.rs?x").contains("`?query`"));
        assert!(err("file:relative/a.rs").contains("not a valid URI"));
        let long = format!("file:///ws/{}.rs", "n".repeat(MAX_PATH_BYTES));
        let e = err(&long);
        assert!(e.contains("longer than 4096 bytes"), "{e}");
        assert!(e.len() < 400, "the message does not repeat the URI: {e}");
        let huge = format!("file:///ws/{}.rs", "n".repeat(10_000_000));
        assert!(err(&huge).contains("longer than"));
    }

    #[test]
    fn non_file_uris_are_refused_with_the_scheme_named() {
        let err = normalize_uri("untitled:Untitled-1").unwrap_err();
        assert!(err.to_string().contains("scheme `untitled`"), "{err}");
        let err = normalize_uri("not a uri").unwrap_err();
        assert!(err.to_string().contains("not a valid URI"), "{err}");
    }

    #[test]
    fn contains_respects_directory_boundaries() {
        let ws = Workspace::new("/repo");
        assert!(ws.contains(&uri_for_path(Path::new("/repo/src/a.rs"))));
        assert!(ws.contains(&uri_for_path(Path::new("/repo"))));
        assert!(!ws.contains(&uri_for_path(Path::new("/repository/a.rs"))));
        assert_eq!(
            ws.display(&uri_for_path(Path::new("/repo/src/a.rs"))),
            "src/a.rs"
        );
        assert_eq!(ws.display(&uri_for_path(Path::new("/etc/x"))), "/etc/x");
    }
}
