//! The initrd holds every program, library and config file, in a well-formed archive, and
//! every module in it is one the kernel can load.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use wasmparser::{Parser, Payload, TypeRef, Validator};
use weft_initrd::{BIN_DIR, INITRD, LIBRARIES, PROGRAMS};

/// The programs the userland must provide.
const EXPECTED_PROGRAMS: &[&str] = &[
    "cat", "echo", "false", "hello", "init", "libdemo", "ls", "mkdir", "ps", "rm", "sh", "sleep",
    "sort", "spin", "true", "wc", "yes",
];

struct Entry {
    kind: tar::EntryType,
    mode: u32,
    mtime: u64,
    data: Vec<u8>,
}

/// The archive's entries in order, by path (directories keep their trailing `/`).
fn entries() -> Vec<(String, Entry)> {
    let mut archive = tar::Archive::new(INITRD);
    let mut out = Vec::new();
    for entry in archive.entries().expect("the archive has entries") {
        let mut entry = entry.expect("a well-formed entry");
        let header = entry.header();
        let kind = header.entry_type();
        let mode = header.mode().expect("a mode");
        let mtime = header.mtime().expect("an mtime");
        let mut path = entry.path().expect("a path").to_string_lossy().into_owned();
        if kind.is_dir() && !path.ends_with('/') {
            path.push('/');
        }
        let mut data = Vec::new();
        entry.read_to_end(&mut data).expect("readable data");
        out.push((
            path,
            Entry {
                kind,
                mode,
                mtime,
                data,
            },
        ));
    }
    out
}

fn files() -> BTreeMap<String, Vec<u8>> {
    entries()
        .into_iter()
        .filter(|(_, e)| e.kind.is_file())
        .map(|(p, e)| (p, e.data))
        .collect()
}

#[test]
fn lists_the_expected_programs_and_libraries() {
    assert_eq!(PROGRAMS, EXPECTED_PROGRAMS);
    assert_eq!(LIBRARIES, ["counter"]);
}

#[test]
fn archive_holds_every_entry_in_order() {
    let entries = entries();
    let mut expected = vec!["bin/".to_string()];
    expected.extend(PROGRAMS.iter().map(|p| format!("bin/{p}")));
    expected.extend(["etc/", "etc/init.conf", "etc/motd", "lib/"].map(String::from));
    expected.extend(LIBRARIES.iter().map(|l| format!("lib/{l}.wasm")));
    let paths: Vec<&str> = entries.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(paths, expected);
    for (path, e) in &entries {
        assert_eq!(e.mtime, 0, "{path}: mtime");
        let mode = if path.ends_with('/') || path.starts_with("bin/") {
            0o755
        } else {
            0o644
        };
        assert_eq!(e.mode, mode, "{path}: mode");
        assert!(e.kind.is_dir() == path.ends_with('/'), "{path}: kind");
    }
}

#[test]
fn etc_files_match_the_sources() {
    let files = files();
    let etc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../user/etc");
    for name in ["init.conf", "motd"] {
        let source = std::fs::read(etc.join(name)).expect("the source file");
        assert_eq!(files[&format!("etc/{name}")], source, "etc/{name}");
    }
}

/// The imports of a module, after checking that it validates.
fn imports(name: &str, bytes: &[u8]) -> Vec<(String, String, TypeRef)> {
    Validator::new()
        .validate_all(bytes)
        .unwrap_or_else(|e| panic!("{name} does not validate: {e}"));
    let mut out = Vec::new();
    for payload in Parser::new(0).parse_all(bytes) {
        if let Payload::ImportSection(reader) = payload.expect("parses") {
            for import in reader.into_imports() {
                let import = import.expect("an import");
                out.push((
                    import.module.to_string(),
                    import.name.to_string(),
                    import.ty,
                ));
            }
        }
    }
    out
}

fn exports(bytes: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    for payload in Parser::new(0).parse_all(bytes) {
        if let Payload::ExportSection(reader) = payload.expect("parses") {
            out.extend(
                reader
                    .into_iter()
                    .map(|e| e.expect("an export").name.to_string()),
            );
        }
    }
    out
}

#[test]
fn programs_import_only_what_the_kernel_provides() {
    let files = files();
    for program in PROGRAMS {
        let bytes = &files[&format!("bin/{program}")];
        let imports = imports(program, bytes);
        let mut memory = false;
        let mut libraries = false;
        for (module, field, ty) in &imports {
            match (module.as_str(), field.as_str()) {
                ("wasi_snapshot_preview1" | "weft", _) => {
                    assert!(
                        matches!(ty, TypeRef::Func(_)),
                        "{program}: {module}.{field} is not a function"
                    );
                }
                ("env", "memory") => {
                    assert!(
                        matches!(ty, TypeRef::Memory(_)),
                        "{program}: env.memory is not a memory"
                    );
                    memory = true;
                }
                (m, _) if m.starts_with("lib/") => {
                    let lib = &m["lib/".len()..];
                    assert!(
                        LIBRARIES.contains(&lib),
                        "{program}: imports unknown library {lib}"
                    );
                    libraries = true;
                }
                _ => panic!("{program}: imports {module}.{field}, which weft does not provide"),
            }
        }
        assert!(
            !libraries || memory,
            "{program} uses a library but does not import env.memory"
        );
        assert!(
            exports(bytes).contains(&"_start".to_string()),
            "{program}: no _start"
        );
    }
}

#[test]
fn libdemo_links_against_counter() {
    let files = files();
    let imports = imports("libdemo", &files["bin/libdemo"]);
    assert!(imports.iter().any(|(m, f, _)| m == "env" && f == "memory"));
    assert!(
        imports
            .iter()
            .any(|(m, f, _)| m == "lib/counter" && f == "add")
    );
}

#[test]
fn libraries_own_no_memory() {
    let files = files();
    for lib in LIBRARIES {
        let bytes = &files[&format!("lib/{lib}.wasm")];
        let imports = imports(lib, bytes);
        assert!(
            imports
                .iter()
                .any(|(m, f, ty)| m == "env" && f == "memory" && matches!(ty, TypeRef::Memory(_))),
            "{lib} must import env.memory"
        );
        for payload in Parser::new(0).parse_all(bytes) {
            assert!(
                !matches!(payload.expect("parses"), Payload::MemorySection(_)),
                "{lib} defines a memory of its own"
            );
        }
    }
    let counter = exports(&files["lib/counter.wasm"]);
    for name in ["add", "get", "fill"] {
        assert!(
            counter.contains(&name.to_string()),
            "counter exports {name}"
        );
    }
}

#[test]
fn bin_dir_holds_the_packed_programs() {
    let files = files();
    for program in PROGRAMS {
        let path = Path::new(BIN_DIR).join(format!("{program}.wasm"));
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            bytes == files[&format!("bin/{program}")],
            "{program}: BIN_DIR copy differs"
        );
    }
}
