//! Sets `weft_tail_calls` when handlers of the threaded interpreter can dispatch by tail
//! calls (see `src/interp/exec.rs`): the build optimizes (LLVM turns calls in tail position into
//! jumps only then) and the target architecture is one whose LLVM backend does so for
//! these handlers' signature. Otherwise the interpreter runs its handlers from a loop.

use std::env;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=OPT_LEVEL");
    println!("cargo::rustc-check-cfg=cfg(weft_tail_calls)");
    let optimizing = matches!(env::var("OPT_LEVEL").as_deref(), Ok("2" | "3" | "s" | "z"));
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let sibling_calls = matches!(arch.as_str(), "x86_64" | "aarch64" | "riscv64");
    if optimizing && sibling_calls {
        println!("cargo::rustc-cfg=weft_tail_calls");
    }
}
