//! Resource bounds: what a module can make the engine spend.
//!
//! A grown linear memory must cost nothing until its pages are touched. The bounds are
//! generous (seconds, not milliseconds; hundreds of MiB) so that a loaded machine or a
//! debug build does not make them flaky.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use weft_engine::*;

/// One test at a time, so that each sees only its own memory.
static SERIAL: Mutex<()> = Mutex::new(());

const MIB: usize = 1 << 20;
const TIME_BOUND: Duration = Duration::from_secs(10);

/// The resident set of this process in bytes (Linux).
fn resident_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

const GROW: &str = r#"(module
  (memory (export "m") 1)
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "store") (param i32 i32) (i32.store (local.get 0) (local.get 1)))
  (func (export "load") (param i32) (result i32) (i32.load (local.get 0))))"#;

/// Grows the memory of a fresh instance of [`GROW`] to 4 GiB with `step` pages per
/// `memory.grow`, checking that neither the time nor the resident memory grows with it,
/// and that the new pages read as zero and keep what is written to them.
fn grow_to_4_gib(step: i32) {
    let engine = Engine::default();
    let module = Module::new(&engine, wat::parse_str(GROW).unwrap()).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Linker::new(&engine)
        .instantiate(&mut store, &module)
        .unwrap();
    let grow = instance.get_typed_func::<i32, i32>(&store, "grow").unwrap();
    let store_fn = instance
        .get_typed_func::<(i32, i32), ()>(&store, "store")
        .unwrap();
    let load = instance.get_typed_func::<i32, i32>(&store, "load").unwrap();
    store_fn.call(&mut store, (16, 7)).unwrap();
    let before = resident_bytes();
    let start = Instant::now();
    let mut pages = 1;
    while pages < 65536 {
        let delta = step.min(65536 - pages);
        assert_eq!(grow.call(&mut store, delta).unwrap(), pages);
        pages += delta;
    }
    let time = start.elapsed();
    let resident = resident_bytes().saturating_sub(before);
    eprintln!(
        "memory.grow to 65536 pages by {step}: {:.3} s, {:.1} MiB more resident",
        time.as_secs_f64(),
        resident as f64 / MIB as f64
    );
    assert!(time < TIME_BOUND, "growing took {time:?}");
    assert!(
        resident < 256 * MIB,
        "growing made {resident} bytes resident"
    );
    // Past its full size a memory cannot grow.
    assert_eq!(grow.call(&mut store, 1).unwrap(), -1);
    assert_eq!(load.call(&mut store, 16).unwrap(), 7);
    for addr in [65536, 1 << 31, -4] {
        assert_eq!(load.call(&mut store, addr).unwrap(), 0);
        store_fn.call(&mut store, (addr, addr ^ 0x5a5a)).unwrap();
        assert_eq!(load.call(&mut store, addr).unwrap(), addr ^ 0x5a5a);
    }
    let memory = instance.get_memory(&store, "m").unwrap();
    assert_eq!(memory.data_size(&store).unwrap(), 1 << 32);
}

#[test]
fn grown_memory_costs_nothing_until_touched() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // 2.6 s and 4 GiB resident before.
    grow_to_4_gib(65535);
}

#[test]
fn memory_grown_page_by_page_costs_nothing_until_touched() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    grow_to_4_gib(1);
}
