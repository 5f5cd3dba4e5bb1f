//! Compression: DEFLATE with the `miniz_oxide` crate, compressing and decompressing text-like
//! data.

use bench_common::{Rng, mix};

const WORDS: [&str; 32] = [
    "the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "was", "with", "be", "by",
    "on", "not", "kernel", "process", "memory", "module", "engine", "store", "table", "function",
    "instance", "value", "stack", "frame", "trap", "fuel", "import", "export",
];

/// About `len` bytes of text: random words (frequent ones more likely), numbers and
/// punctuation, so that it compresses like prose rather than like noise or zeros.
fn text(len: usize) -> Vec<u8> {
    let mut rng = Rng::new(0x5eed_0005);
    let mut out = Vec::with_capacity(len + 32);
    while out.len() < len {
        let r = rng.next_u32();
        // Squaring a uniform index skews the choice towards the first words.
        let i = (((r & 0xffff) * (r & 0xffff)) >> 27) as usize;
        out.extend_from_slice(WORDS[i].as_bytes());
        match (r >> 16) % 16 {
            0 => out.extend_from_slice(b". "),
            1 => out.extend_from_slice(b", "),
            2 => {
                out.extend_from_slice(b" ");
                out.extend_from_slice(format!("{}", rng.below(10_000)).as_bytes());
                out.extend_from_slice(b" ");
            }
            3 => out.push(b'\n'),
            _ => out.push(b' '),
        }
    }
    out.truncate(len);
    out
}

/// The workload: compresses `n` KiB of text at level 6 and decompresses it again (checking
/// the round trip); the checksum covers the compressed bytes.
pub fn run(n: u32) -> u64 {
    let data = text(n as usize * 1024);
    let packed = miniz_oxide::deflate::compress_to_vec(&data, 6);
    let unpacked = miniz_oxide::inflate::decompress_to_vec(&packed).expect("valid stream");
    assert!(unpacked == data, "round trip changed the data");
    let mut hash = packed.len() as u64;
    for chunk in packed.chunks(8) {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        hash = mix(hash, u64::from_le_bytes(word));
    }
    hash
}

bench_common::export_run!(crate::run);
