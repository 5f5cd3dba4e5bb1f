//! A reader for tar archives (POSIX ustar, pax and GNU), for the initrd.
//!
//! Hand-written rather than taken from `tar-no-std` because that crate yields only regular
//! files (empty directories would vanish), reads the octal `mtime` field as decimal and
//! lacks GNU long names; the format needed here is small.
//!
//! The archive is hostile input: every field is bounds-checked, every header's checksum
//! verified, and every problem is an `Err` naming the header's byte offset. Nothing here
//! panics or loops on arbitrary bytes (each step moves forward by at least one block).
//!
//! Supported entry types: regular files (`0`, NUL, `7`), directories (`5`), hard links to
//! earlier files (`1`); GNU long names (`L`), pax extended headers (`x`: `path`, `linkpath`,
//! `size`, `mtime`). Symbolic links, devices, FIFOs and other types are skipped: weft's
//! file systems have no such objects.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::path::{NAME_MAX, PATH_MAX};

const BLOCK: usize = 512;

/// What an entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind<'a> {
    /// A regular file with these contents.
    File(&'a [u8]),
    /// A directory.
    Directory,
    /// A hard link to the earlier entry at this (normalised) path.
    HardLink(String),
    /// A symbolic link with this target, kept as written.
    Symlink(String),
}

/// One archive member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry<'a> {
    /// The normalised path: components joined by `/`, no leading `./` or `/`, no `.` or
    /// `..`; empty for the archive's root (`./`).
    pub path: String,
    /// What it is.
    pub kind: Kind<'a>,
    /// Modification time, ns since the epoch.
    pub mtime_ns: u64,
}

/// Overrides from a pax extended header or GNU long-name entries, for the next header.
#[derive(Default)]
struct Pending {
    path: Option<Vec<u8>>,
    link: Option<Vec<u8>>,
    size: Option<u64>,
    mtime_ns: Option<u64>,
}

/// Parses a whole archive.
///
/// # Errors
/// A message naming the problem and the byte offset of the header it concerns.
pub(crate) fn parse(archive: &[u8]) -> Result<Vec<Entry<'_>>, String> {
    let mut entries = Vec::new();
    let mut pending = Pending::default();
    let mut at = 0usize;
    loop {
        if at >= archive.len() {
            // Some writers omit the two zero blocks at the end (or the last padding); the
            // data is complete.
            break;
        }
        let Some(header) = archive.get(at..at + BLOCK) else {
            return Err(format!(
                "truncated header at byte {at}: {} bytes left, a header has {BLOCK}",
                archive.len() - at
            ));
        };
        if header.iter().all(|&b| b == 0) {
            break;
        }
        verify_checksum(header).map_err(|e| format!("header at byte {at}: {e}"))?;
        let fail = |what: String| format!("header at byte {at}: {what}");
        let typeflag = header[156];
        let meta = matches!(typeflag, b'L' | b'K' | b'x' | b'g' | b'V');
        let size = match pending.size {
            // Links, devices, directories and FIFOs have no data whatever the size field
            // says (POSIX).
            _ if (b'1'..=b'6').contains(&typeflag) => 0,
            Some(size) if !meta => size,
            _ => number(&header[124..136]).map_err(|e| fail(format!("size field: {e}")))?,
        };
        let data_start = at + BLOCK;
        let data = usize::try_from(size)
            .ok()
            .and_then(|size| archive.get(data_start..data_start.checked_add(size)?))
            .ok_or_else(|| {
                fail(format!(
                    "{size} bytes of data do not fit in the archive ({} bytes left)",
                    archive.len() - data_start
                ))
            })?;
        // Data is padded to whole blocks; the padding of the last member may be missing.
        let next = data_start + data.len().div_ceil(BLOCK) * BLOCK;
        match typeflag {
            b'L' => pending.path = Some(c_string(data).to_vec()),
            b'K' => pending.link = Some(c_string(data).to_vec()),
            b'x' => {
                pax_records(data, &mut pending).map_err(|e| fail(format!("pax header: {e}")))?
            }
            // Global pax headers and GNU volume labels carry nothing weft keeps.
            b'g' | b'V' => {}
            _ => {
                let taken = core::mem::take(&mut pending);
                let raw_path = match taken.path {
                    Some(path) => path,
                    None => header_path(header),
                };
                let path = normalize(&raw_path).map_err(&fail)?;
                let mtime_ns = match taken.mtime_ns {
                    Some(ns) => ns,
                    None => number(&header[136..148])
                        .map_err(|e| fail(format!("mtime field: {e}")))?
                        .saturating_mul(1_000_000_000),
                };
                let kind = match typeflag {
                    b'0' | 0 | b'7' => Some(Kind::File(data)),
                    b'5' => Some(Kind::Directory),
                    b'1' => {
                        let raw = match taken.link {
                            Some(link) => link,
                            None => c_string(&header[157..257]).to_vec(),
                        };
                        let target = normalize(&raw).map_err(|e| fail(format!("link {e}")))?;
                        Some(Kind::HardLink(target))
                    }
                    b'2' => {
                        let raw = match taken.link {
                            Some(link) => link,
                            None => c_string(&header[157..257]).to_vec(),
                        };
                        let target = String::from_utf8(raw)
                            .map_err(|_| fail("symbolic link target is not UTF-8".into()))?;
                        if target.is_empty() || target.contains('\0') {
                            return Err(fail("empty symbolic link target".into()));
                        }
                        Some(Kind::Symlink(target))
                    }
                    _ => None,
                };
                if let Some(kind) = kind {
                    entries.push(Entry {
                        path,
                        kind,
                        mtime_ns,
                    });
                }
            }
        }
        at = next;
    }
    Ok(entries)
}

/// Checks the header checksum: the sum of all header bytes with the checksum field read as
/// spaces. Historic writers summed signed bytes; both sums are accepted.
fn verify_checksum(header: &[u8]) -> Result<(), String> {
    let stored = number(&header[148..156]).map_err(|e| format!("checksum field: {e}"))?;
    let (mut unsigned, mut signed) = (0u64, 0i64);
    for (i, &b) in header.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { b };
        unsigned += u64::from(b);
        signed += i64::from(b as i8);
    }
    if stored == unsigned || i64::try_from(stored) == Ok(signed) {
        Ok(())
    } else {
        Err(format!(
            "checksum mismatch (stored {stored}, computed {unsigned}): not a tar header"
        ))
    }
}

/// A numeric field: octal digits, optionally surrounded by spaces and ended by NUL or
/// space; or GNU base-256 (first byte's top bit set, big-endian, the rest of that byte
/// its sign and high bits; negative values count as 0).
fn number(field: &[u8]) -> Result<u64, String> {
    if let Some((&first, rest)) = field.split_first()
        && first & 0x80 != 0
    {
        if first & 0x40 != 0 {
            return Ok(0); // negative: a time before the epoch
        }
        let mut value = u64::from(first & 0x3f);
        for &b in rest {
            value = value
                .checked_mul(256)
                .and_then(|v| v.checked_add(u64::from(b)))
                .ok_or("base-256 number too large")?;
        }
        return Ok(value);
    }
    let text = c_string(field);
    let digits = text.trim_ascii();
    let mut value = 0u64;
    for &b in digits {
        if !(b'0'..=b'7').contains(&b) {
            return Err(format!(
                "{:?} is not an octal number",
                text.escape_ascii().to_string()
            ));
        }
        value = value
            .checked_mul(8)
            .and_then(|v| v.checked_add(u64::from(b - b'0')))
            .ok_or("octal number too large")?;
    }
    Ok(value)
}

/// The bytes of `field` before its first NUL.
fn c_string(field: &[u8]) -> &[u8] {
    field
        .iter()
        .position(|&b| b == 0)
        .map_or(field, |end| &field[..end])
}

/// The name in a header, with the ustar `prefix` field before it when the magic says
/// ustar (`"ustar\0"`; GNU's `"ustar "` uses that area for other things).
fn header_path(header: &[u8]) -> Vec<u8> {
    let name = c_string(&header[0..100]);
    let prefix = c_string(&header[345..500]);
    if &header[257..263] == b"ustar\0" && !prefix.is_empty() {
        let mut path = prefix.to_vec();
        path.push(b'/');
        path.extend_from_slice(name);
        path
    } else {
        name.to_vec()
    }
}

/// Normalises a member's path: UTF-8, relative, no `..`; `.`, empty components and a
/// leading `/` are dropped.
fn normalize(raw: &[u8]) -> Result<String, String> {
    let text = core::str::from_utf8(raw)
        .map_err(|_| format!("path {:?} is not UTF-8", raw.escape_ascii().to_string()))?;
    if text.contains('\0') {
        return Err(format!("path {text:?} contains a NUL byte"));
    }
    if text.len() > PATH_MAX {
        return Err(format!("path of {} bytes is too long", text.len()));
    }
    let mut out = String::with_capacity(text.len());
    for part in text.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(format!("path {text:?} climbs out of the archive")),
            name if name.len() > NAME_MAX => {
                return Err(format!(
                    "path {text:?} has a component longer than {NAME_MAX}"
                ));
            }
            name => {
                if !out.is_empty() {
                    out.push('/');
                }
                out.push_str(name);
            }
        }
    }
    Ok(out)
}

/// Reads pax extended header records (`"<len> <key>=<value>\n"`) into `pending`.
fn pax_records(mut data: &[u8], pending: &mut Pending) -> Result<(), String> {
    while !data.is_empty() {
        if data.iter().all(|&b| b == 0) {
            break;
        }
        let space = data
            .iter()
            .position(|&b| b == b' ')
            .ok_or("record without a length")?;
        let len: usize = core::str::from_utf8(&data[..space])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or("bad record length")?;
        if len <= space + 1 || len > data.len() {
            return Err(format!("record length {len} out of range"));
        }
        let record = &data[space + 1..len];
        let record = record
            .strip_suffix(b"\n")
            .ok_or("record not ended by a newline")?;
        let eq = record
            .iter()
            .position(|&b| b == b'=')
            .ok_or("record without '='")?;
        let (key, value) = (&record[..eq], &record[eq + 1..]);
        match key {
            b"path" => pending.path = Some(value.to_vec()),
            b"linkpath" => pending.link = Some(value.to_vec()),
            b"size" => pending.size = Some(decimal(value).ok_or("bad size record")?),
            b"mtime" => pending.mtime_ns = Some(pax_time(value).ok_or("bad mtime record")?),
            _ => {}
        }
        data = &data[len..];
    }
    Ok(())
}

fn decimal(text: &[u8]) -> Option<u64> {
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    core::str::from_utf8(text).ok()?.parse().ok()
}

/// A pax time (`"1700000000.25"`, maybe negative) in ns since the epoch; before the epoch
/// is 0.
fn pax_time(text: &[u8]) -> Option<u64> {
    if let Some(rest) = text.strip_prefix(b"-") {
        pax_time(rest)?;
        return Some(0);
    }
    let (secs, frac) = match text.iter().position(|&b| b == b'.') {
        Some(dot) => (&text[..dot], &text[dot + 1..]),
        None => (text, &b""[..]),
    };
    let secs = decimal(secs)?;
    let mut nanos = 0u64;
    if !frac.is_empty() && !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    for i in 0..9 {
        nanos = nanos * 10 + frac.get(i).map_or(0, |d| u64::from(d - b'0'));
    }
    Some(secs.saturating_mul(1_000_000_000).saturating_add(nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(number(b"0000644\0"), Ok(0o644));
        assert_eq!(number(b"  755 \0"), Ok(0o755));
        assert_eq!(number(b"\0\0\0"), Ok(0));
        assert!(number(b"12a\0").is_err());
        assert!(number(b"99\0").is_err());
        assert_eq!(number(&[0x80, 0, 0, 0, 0, 0, 0, 1, 0]), Ok(256));
        assert_eq!(number(&[0xff, 0xff, 0xff]), Ok(0));
        assert!(number(&[0x80, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(number(b"7777777777777777777777777\0").is_err());
    }

    #[test]
    fn pax_times() {
        assert_eq!(pax_time(b"1700000000"), Some(1_700_000_000_000_000_000));
        assert_eq!(pax_time(b"1.5"), Some(1_500_000_000));
        assert_eq!(pax_time(b"1.0123456789"), Some(1_012_345_678));
        assert_eq!(pax_time(b"-3.5"), Some(0));
        assert_eq!(pax_time(b"x"), None);
        assert_eq!(pax_time(b"1.x"), None);
        assert_eq!(pax_time(b""), None);
    }

    #[test]
    fn paths() {
        assert_eq!(normalize(b"./bin/ls").unwrap(), "bin/ls");
        assert_eq!(normalize(b"/bin//ls/").unwrap(), "bin/ls");
        assert_eq!(normalize(b"./").unwrap(), "");
        assert!(normalize(b"a/../../b").is_err());
        assert!(normalize(b"\xff").is_err());
    }

    #[test]
    fn pax_record_errors() {
        let mut p = Pending::default();
        assert!(pax_records(b"11 path=ab\n", &mut p).is_ok());
        assert_eq!(p.path.as_deref(), Some(&b"ab"[..]));
        assert!(pax_records(b"99 path=ab\n", &mut p).is_err());
        assert!(pax_records(b"1 x", &mut p).is_err());
        assert!(pax_records(b"11 pathab\n\n", &mut p).is_err());
        assert!(pax_records(b"nolength", &mut p).is_err());
        assert!(pax_records(b"11 size=1x\n", &mut p).is_err());
    }
}
