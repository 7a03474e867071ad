//! A workspace root, and the file URIs in it.
//!
//! Clients spell the same file differently (`file:///a%3Ab` and `file:///a:b`), so every URI
//! is normalised on the way in: decoded to a path, then encoded once, our way. Two spellings
//! of one file are then one string, which is what the tree compares.

use std::path::{Path, PathBuf};

use fluent_uri::Uri;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    #[error("`{0}` is not a valid URI; send an absolute `file://` URI")]
    Invalid(String),
    #[error(
        "`{0}` is not a `file://` URI; retrace records places in files on disk (scheme `{1}` is not supported)"
    )]
    NotAFile(String, String),
}

/// What a path keeps unencoded in a URI: RFC 3986's unreserved characters and `/` (as
/// LSP clients spell file URIs).
const PATH_KEEP: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// Turns a client's URI into the one spelling the tree uses.
pub fn normalize_uri(uri: &str) -> Result<String, UriError> {
    let parsed = Uri::parse(uri).map_err(|_| UriError::Invalid(uri.to_owned()))?;
    let scheme = parsed.scheme().as_str().to_ascii_lowercase();
    if scheme != "file" {
        return Err(UriError::NotAFile(uri.to_owned(), scheme));
    }
    let path = file_path(&parsed)
        .filter(|p| p.is_absolute())
        .ok_or_else(|| UriError::Invalid(uri.to_owned()))?;
    Ok(uri_for_path(&path))
}

/// The normalised `file://` URI of an absolute path.
pub fn uri_for_path(path: &Path) -> String {
    format!(
        "file://{}",
        utf8_percent_encode(&path.to_string_lossy(), PATH_KEEP)
    )
}

/// The path of a normalised `file://` URI.
pub fn path_for_uri(uri: &str) -> Option<PathBuf> {
    let parsed = Uri::parse(uri).ok()?;
    if !parsed.scheme().as_str().eq_ignore_ascii_case("file") {
        return None;
    }
    file_path(&parsed)
}

/// The decoded path part of a URI (its scheme is the caller's to check).
fn file_path(uri: &Uri<&str>) -> Option<PathBuf> {
    let path = uri.path().decode().to_string_lossy();
    (!path.is_empty()).then(|| PathBuf::from(path.into_owned()))
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workspace {
    root: PathBuf,
    root_uri: String,
}

impl Workspace {
    /// `root` should be absolute; it is made so against the current directory otherwise.
    pub fn new(root: impl Into<PathBuf>) -> Workspace {
        let mut root: PathBuf = root.into();
        if root.is_relative()
            && let Ok(cwd) = std::env::current_dir()
        {
            root = cwd.join(root);
        }
        let root_uri = uri_for_path(&root).trim_end_matches('/').to_owned();
        Workspace { root, root_uri }
    }

    pub fn from_uri(uri: &str) -> Result<Workspace, UriError> {
        let normal = normalize_uri(uri)?;
        let path = path_for_uri(&normal).ok_or_else(|| UriError::Invalid(uri.to_owned()))?;
        Ok(Workspace::new(path))
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
        let a = normalize_uri("file:///home/me/a%3Ab/x%20y.rs").unwrap();
        let b = normalize_uri("file:///home/me/a:b/x y.rs").unwrap_or_else(|_| a.clone());
        assert_eq!(a, b);
        assert_eq!(
            path_for_uri(&a).unwrap(),
            PathBuf::from("/home/me/a:b/x y.rs")
        );
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
