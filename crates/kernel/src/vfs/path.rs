//! Path arithmetic for the VFS.
//!
//! Paths inside the kernel are absolute and normalised: they start with `/`, have no empty,
//! `.` or `..` components and no trailing `/` (except `/` itself). Guest-supplied paths
//! become that form through [`super::Vfs::resolve`], which walks them component by
//! component and follows symbolic links; the lexical helpers here are for paths that name
//! no links (mount points, the kernel's own paths).
//!
//! A trailing `/` is dropped like any empty component, so `"dir/"` names `dir`.

use alloc::string::String;
use alloc::vec::Vec;

use crate::errno::{Errno, SysResult};

/// The longest path, in bytes, that the VFS accepts (`PATH_MAX`).
pub const PATH_MAX: usize = 4096;

/// The longest single path component, in bytes (`NAME_MAX`).
pub const NAME_MAX: usize = 255;

/// Joins `rel` (a guest-supplied path, may contain `.`, `..`, repeated `/`) onto the
/// absolute normalised directory path `base`, normalising lexically. The result is absolute
/// and normalised (`"/"`, `"/a/b"`).
///
/// # Errors
/// - `NOTCAPABLE` if `rel` is absolute (WASI `path_open` does not allow absolute paths) or
///   the result would leave `base` (`..` may not climb above it);
/// - `NOENT` for an empty `rel`, as POSIX `open("")`;
/// - `INVAL` for an embedded NUL;
/// - `NAMETOOLONG` for a path beyond [`PATH_MAX`] bytes or a component beyond [`NAME_MAX`].
pub fn join_within(base: &str, rel: &str) -> SysResult<String> {
    check_bytes(rel)?;
    if rel.is_empty() {
        return Err(Errno::NOENT);
    }
    if rel.starts_with('/') {
        return Err(Errno::NOTCAPABLE);
    }
    let mut parts = components(base)?;
    let floor = parts.len();
    for part in rel.split('/') {
        match part {
            "" | "." => {}
            ".." if parts.len() == floor => return Err(Errno::NOTCAPABLE),
            ".." => {
                parts.pop();
            }
            name => parts.push(name),
        }
    }
    assemble(&parts)
}

/// Checks a guest-supplied path before it is resolved.
///
/// # Errors
/// `INVAL` for an embedded NUL, `NAMETOOLONG` beyond [`PATH_MAX`] bytes, `NOENT` when
/// empty (as POSIX `open("")`), `NOTCAPABLE` when absolute (WASI paths are relative to a
/// directory handle).
pub fn check_guest(rel: &str) -> SysResult<()> {
    check_bytes(rel)?;
    if rel.is_empty() {
        return Err(Errno::NOENT);
    }
    if rel.starts_with('/') {
        return Err(Errno::NOTCAPABLE);
    }
    Ok(())
}

/// Whether what `rel` names must be a directory: it ends in `/`, `/.` or `/..` (or is `.`
/// or `..`).
pub fn names_dir(rel: &str) -> bool {
    rel.ends_with('/') || matches!(rel.rsplit('/').next(), Some("." | ".."))
}

/// The absolute normalised path of `parts` (each a valid name).
///
/// # Errors
/// `NAMETOOLONG` beyond [`PATH_MAX`] bytes.
pub fn from_parts<S: AsRef<str>>(parts: &[S]) -> SysResult<String> {
    let parts: Vec<&str> = parts.iter().map(AsRef::as_ref).collect();
    assemble(&parts)
}

/// Normalises an absolute path lexically (`"/a/./b/../c"` → `"/a/c"`); `..` at `/` stays
/// at `/`. A path without a leading `/` is taken relative to `/`.
///
/// # Errors
/// `INVAL` for an embedded NUL; `NAMETOOLONG` for a path beyond [`PATH_MAX`] bytes or a
/// component beyond [`NAME_MAX`].
pub fn normalize(path: &str) -> SysResult<String> {
    check_bytes(path)?;
    let parts = components(path)?;
    assemble(&parts)
}

/// The parent of a normalised absolute path (`"/"` for `"/"` and for `"/a"`).
pub fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// Whether `path` is absolute and normalised.
pub fn is_normalized(path: &str) -> bool {
    if path == "/" {
        return true;
    }
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    path.len() <= PATH_MAX
        && !path.contains('\0')
        && rest
            .split('/')
            .all(|c| !matches!(c, "" | "." | "..") && c.len() <= NAME_MAX)
}

/// Whether normalised `path` lies strictly below normalised directory `dir`; returns the
/// part of `path` after `dir` and its `/`.
pub fn strip_dir<'a>(path: &'a str, dir: &str) -> Option<&'a str> {
    if dir == "/" {
        return path.strip_prefix('/').filter(|rest| !rest.is_empty());
    }
    path.strip_prefix(dir)?
        .strip_prefix('/')
        .filter(|rest| !rest.is_empty())
}

fn check_bytes(path: &str) -> SysResult<()> {
    if path.contains('\0') {
        return Err(Errno::INVAL);
    }
    if path.len() > PATH_MAX {
        return Err(Errno::NAMETOOLONG);
    }
    Ok(())
}

/// The components of `path`, with `.` and empty ones dropped and `..` applied (not above
/// the root).
fn components(path: &str) -> SysResult<Vec<&str>> {
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            name if name.len() > NAME_MAX => return Err(Errno::NAMETOOLONG),
            name => parts.push(name),
        }
    }
    Ok(parts)
}

fn assemble(parts: &[&str]) -> SysResult<String> {
    if parts.is_empty() {
        return Ok(String::from("/"));
    }
    let len: usize = parts.iter().map(|p| p.len() + 1).sum();
    if len > PATH_MAX {
        return Err(Errno::NAMETOOLONG);
    }
    let mut out = String::with_capacity(len);
    for part in parts {
        if part.len() > NAME_MAX {
            return Err(Errno::NAMETOOLONG);
        }
        out.push('/');
        out.push_str(part);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn normalize_is_lexical() {
        assert_eq!(normalize("/a/./b/../c").unwrap(), "/a/c");
        assert_eq!(normalize("/").unwrap(), "/");
        assert_eq!(normalize("").unwrap(), "/");
        assert_eq!(normalize("/..").unwrap(), "/");
        assert_eq!(normalize("/../../x").unwrap(), "/x");
        assert_eq!(normalize("//a//b/").unwrap(), "/a/b");
        assert_eq!(normalize("bin/sh").unwrap(), "/bin/sh");
        assert_eq!(normalize("/a/b/../../..").unwrap(), "/");
        assert_eq!(normalize("/a\0b"), Err(Errno::INVAL));
    }

    #[test]
    fn join_stays_within_base() {
        assert_eq!(join_within("/", "a/b").unwrap(), "/a/b");
        assert_eq!(join_within("/home", ".").unwrap(), "/home");
        assert_eq!(join_within("/home", "a/../b//c/.").unwrap(), "/home/b/c");
        assert_eq!(join_within("/home", "a/..").unwrap(), "/home");
        assert_eq!(join_within("/home", ".."), Err(Errno::NOTCAPABLE));
        assert_eq!(join_within("/home", "a/../.."), Err(Errno::NOTCAPABLE));
        assert_eq!(
            join_within("/home", "a/../../home/x"),
            Err(Errno::NOTCAPABLE)
        );
        assert_eq!(join_within("/", ".."), Err(Errno::NOTCAPABLE));
        assert_eq!(join_within("/home", "/etc"), Err(Errno::NOTCAPABLE));
        assert_eq!(join_within("/home", ""), Err(Errno::NOENT));
        assert_eq!(join_within("/home", "a\0"), Err(Errno::INVAL));
    }

    #[test]
    fn lengths_are_limited() {
        let long_name = "x".repeat(NAME_MAX + 1);
        assert_eq!(join_within("/", &long_name), Err(Errno::NAMETOOLONG));
        assert_eq!(normalize(&long_name), Err(Errno::NAMETOOLONG));
        let max_name = "x".repeat(NAME_MAX);
        assert_eq!(
            join_within("/", &max_name).unwrap(),
            "/".to_string() + &max_name
        );

        // 4096 bytes of input, but the result is short: fine.
        let dots = "./".repeat(PATH_MAX / 2);
        assert_eq!(join_within("/a", &dots).unwrap(), "/a");
        assert_eq!(join_within("/a", &(dots + "x")), Err(Errno::NAMETOOLONG));

        // The result, not just the input, is limited.
        let base = "/".to_string() + &["y"; PATH_MAX / 2 - 1].join("/");
        assert_eq!(base.len(), PATH_MAX - 2);
        assert_eq!(join_within(&base, "z").unwrap().len(), PATH_MAX);
        assert_eq!(join_within(&base, "zz"), Err(Errno::NAMETOOLONG));
    }

    #[test]
    fn helpers() {
        assert_eq!(parent("/"), "/");
        assert_eq!(parent("/a"), "/");
        assert_eq!(parent("/a/b"), "/a");
        assert!(is_normalized("/"));
        assert!(is_normalized("/a/b"));
        assert!(!is_normalized("a"));
        assert!(!is_normalized("/a/"));
        assert!(!is_normalized("/a//b"));
        assert!(!is_normalized("/a/./b"));
        assert!(!is_normalized("/a/.."));
        assert_eq!(strip_dir("/a/b", "/"), Some("a/b"));
        assert_eq!(strip_dir("/a/b", "/a"), Some("b"));
        assert_eq!(strip_dir("/ab", "/a"), None);
        assert_eq!(strip_dir("/a", "/a"), None);
        assert_eq!(strip_dir("/", "/"), None);
    }
}
