//! docs/abi.md describes the ABI this crate defines: the two must agree. This test reads
//! the document and checks every call, error number, right and limit it states.

use weft_abi::{Errno, rights, syscall};

fn doc() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/abi.md");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The text between each occurrence of `open` and the next `close`.
fn between<'a>(text: &'a str, open: &str, close: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(open) {
        rest = &rest[i + open.len()..];
        let Some(j) = rest.find(close) else { break };
        out.push(&rest[..j]);
        rest = &rest[j..];
    }
    out
}

#[test]
fn every_documented_call_exists_and_every_call_is_documented() {
    let doc = doc();
    let documented: Vec<&str> = between(&doc, "\n### `", "(");
    for name in &documented {
        assert!(
            syscall::NAMES.contains(name),
            "docs/abi.md documents `{name}`, which weft-abi does not define"
        );
    }
    for name in syscall::NAMES {
        assert!(
            documented.contains(name),
            "docs/abi.md does not document `{name}`"
        );
    }
}

#[test]
fn documented_errno_values_match() {
    let doc = doc();
    let mut seen = 0;
    for pair in between(&doc, "`E", ",") {
        // `` `EBADF` = 8 ``: the name, then the number after ` = `.
        let Some((name, value)) = pair.split_once("` = ") else {
            continue;
        };
        let value: String = value.chars().take_while(char::is_ascii_digit).collect();
        let Ok(value) = value.parse::<u16>() else {
            continue;
        };
        let symbol = format!("E{name}");
        let errno = Errno::ALL
            .iter()
            .find(|(_, n, _)| *n == symbol)
            .unwrap_or_else(|| panic!("docs/abi.md names {symbol}, which is no errno"));
        assert_eq!(errno.0.raw(), value, "docs/abi.md gives {symbol} = {value}");
        seen += 1;
    }
    assert!(seen >= 10, "found only {seen} errno values in docs/abi.md");
}

#[test]
fn documented_rights_and_limits_match() {
    let doc = doc();
    for (name, value) in [
        ("READ", rights::READ),
        ("WRITE", rights::WRITE),
        ("TRANSFER", rights::TRANSFER),
        ("KILL", rights::KILL),
    ] {
        let stated = format!("`{name}` ({value}");
        assert!(doc.contains(&stated), "docs/abi.md should say {stated})");
    }
    let bytes = weft_abi::MAX_MESSAGE_BYTES;
    let with_commas = format!("{},{:03}", bytes / 1000, bytes % 1000);
    assert!(
        doc.contains(&format!("up to {with_commas} bytes")),
        "docs/abi.md should give the message limit, {with_commas} bytes"
    );
    assert!(doc.contains(&format!("up to {} handles", weft_abi::MAX_MESSAGE_HANDLES)));
    assert!(doc.contains(&format!("{}-byte record", syscall::PROC_RECORD_SIZE)));
    assert!(doc.contains(&format!("= {}", weft_abi::STATUS_KILLED)));
    assert!(doc.contains(&format!("= {}", weft_abi::STATUS_TRAPPED)));
}
