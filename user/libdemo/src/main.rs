//! `libdemo LABEL N`: shows weft's shared libraries at work.
//!
//! It keeps a few counters in its own memory and updates them only through the library
//! `/lib/counter.wasm` (imported as module `lib/counter`), which has no memory of its own:
//! it works on the addresses this program hands it, in this process's memory. It adds 1 to
//! counter 0 N times, pausing now and then so that another process can run, and prints
//! `LABEL: counter at ADDR = N`. Two at once (`libdemo a 1000 & libdemo b 5`) report the
//! same address but each its own count: one library, a separate instance per process.
#![deny(unsafe_code)]

use std::process::ExitCode;
use std::time::Duration;

/// The library's functions. Their `i32` addresses are into this process's own memory
/// (the library imports it as `env.memory`).
#[expect(unsafe_code, reason = "the FFI boundary with the shared library")]
mod counter {
    #[link(wasm_import_module = "lib/counter")]
    unsafe extern "C" {
        #[link_name = "add"]
        fn counter_add(ptr: *mut i32, n: i32) -> i32;
        #[link_name = "get"]
        fn counter_get(ptr: *const i32) -> i32;
        #[link_name = "fill"]
        fn counter_fill(ptr: *mut i32, count: usize, value: i32);
    }

    /// Adds `n` to `*cell` (wrapping) and returns the new value.
    pub fn add(cell: &mut i32, n: i32) -> i32 {
        // SAFETY: `cell` is a live, exclusive, aligned i32 of our memory, and the library
        // reads and writes exactly that i32 during the call.
        unsafe { counter_add(cell, n) }
    }

    /// Reads `*cell` through the library.
    pub fn get(cell: &i32) -> i32 {
        // SAFETY: `cell` is a live, aligned i32 of our memory; the library only reads it.
        unsafe { counter_get(cell) }
    }

    /// Sets every element of `cells` to `value`.
    pub fn fill(cells: &mut [i32], value: i32) {
        // SAFETY: `cells` is live, exclusive and aligned; the library writes exactly its
        // `cells.len()` i32s.
        unsafe { counter_fill(cells.as_mut_ptr(), cells.len(), value) }
    }
}

const USAGE: &str =
    "usage: libdemo LABEL N   (adds 1 to a counter N times through /lib/counter.wasm)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let [label, n] = args.as_slice() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let Ok(n) = n.parse::<u32>() else {
        eprintln!("libdemo: `{n}` is not a count (0 to {})\n{USAGE}", u32::MAX);
        return ExitCode::from(2);
    };
    // On the heap, so that its address is the same in every process running this program.
    let mut cells = vec![-1i32; 4];
    counter::fill(&mut cells, 0);
    for i in 0..n {
        counter::add(&mut cells[0], 1);
        if i % 1000 == 999 {
            // Give the scheduler a reason to switch to another process mid-count.
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let value = counter::get(&cells[0]);
    let untouched = cells[1..].iter().all(|&c| c == 0);
    println!(
        "{label}: counter at {:#x} = {value}",
        cells.as_ptr() as usize
    );
    if value as u32 != n || !untouched {
        eprintln!("libdemo: expected {n}, the library left {cells:?}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
