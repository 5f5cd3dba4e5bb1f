//! Resource bounds: what a module can make the engine spend.
//!
//! Translation time and memory must stay linear in the module's size with a small constant,
//! or the module is refused with an error; a grown linear memory must cost nothing until
//! its pages are touched. The modules are generated here as bytes (some are megabytes, too
//! large to go through the text format quickly). Memory is measured by a counting global
//! allocator, so the tests of this binary run one at a time (a lock) and each measures its
//! own peak. The bounds are generous (seconds, not milliseconds; hundreds of MiB) so that a
//! loaded machine or a debug build does not make them flaky: what they catch is the growth
//! with branches x values that used to take gigabytes.

//! These bounds are the interpreter translator's, so this file runs on the interpreter whatever
//! `WEFT_STRATEGY` says (Cranelift's compile costs are measured elsewhere).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use weft_engine::*;

/// The system allocator, counting the bytes currently allocated and their peak.
struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// The bytes this thread allocated minus those it freed: the test harness's other
    /// threads allocate too, while a test runs.
    static THREAD_NET: Cell<isize> = const { Cell::new(0) };
}

fn count_alloc(size: usize) {
    let now = CURRENT.fetch_add(size, Ordering::Relaxed) + size;
    PEAK.fetch_max(now, Ordering::Relaxed);
    let _ = THREAD_NET.try_with(|n| n.set(n.get() + size as isize));
}

fn count_dealloc(size: usize) {
    CURRENT.fetch_sub(size, Ordering::Relaxed);
    let _ = THREAD_NET.try_with(|n| n.set(n.get() - size as isize));
}

// SAFETY: every method forwards to `System` with the caller's arguments, so `Counting`
// keeps `System`'s guarantees; the counters are only statistics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is `System::alloc`'s.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            count_alloc(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is `System::alloc_zeroed`'s.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            count_alloc(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract is `System::dealloc`'s.
        unsafe { System.dealloc(ptr, layout) };
        count_dealloc(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract is `System::realloc`'s.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            count_dealloc(layout.size());
            count_alloc(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// One test at a time, so that each sees only its own allocations.
static SERIAL: Mutex<()> = Mutex::new(());

const MIB: usize = 1 << 20;
/// The bounds every pathological module must stay under (or be refused within). Time is
/// measured in optimized builds; unoptimized ones run the validator (whose generic code is
/// instantiated in the engine, so built without optimization) many times slower, and get
/// a looser bound that still catches quadratic growth.
const TIME_BOUND: Duration = Duration::from_secs(if cfg!(debug_assertions) { 60 } else { 10 });
const MEMORY_BOUND: usize = 2048 * MIB;

/// The interpreter, whose translation these bounds are first about (the default engine is
/// `Auto`, which compiles small modules with the JIT at load: its bounds are checked by
/// `pathological_shapes_compile_within_bounds_on_the_jit`).
fn interpreter() -> Engine {
    let mut config = Config::new();
    config.strategy(Strategy::Interpreter).unwrap();
    Engine::new(&config)
}

/// Runs `f`, returning its result, its wall time and the peak of the bytes it allocated
/// beyond what was allocated before.
fn measure<R>(f: impl FnOnce() -> R) -> (R, Duration, usize) {
    let base = CURRENT.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let start = Instant::now();
    let r = f();
    let elapsed = start.elapsed();
    (
        r,
        elapsed,
        PEAK.load(Ordering::Relaxed).saturating_sub(base),
    )
}

fn leb(mut v: u64, out: &mut Vec<u8>) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn section(id: u8, body: &[u8], out: &mut Vec<u8>) {
    out.push(id);
    leb(body.len() as u64, out);
    out.extend_from_slice(body);
}

const I32: u8 = 0x7f;

/// A module of function types `types` (params, results as i32 counts) and one function of
/// type 0 with `locals` i32 locals and body `code` (without the final `end`), exported as
/// "f".
fn module(types: &[(u32, u32)], locals: u32, code: &[u8]) -> Vec<u8> {
    let mut out = b"\0asm\x01\0\0\0".to_vec();
    let mut s = Vec::new();
    leb(types.len() as u64, &mut s);
    for &(params, results) in types {
        s.push(0x60);
        leb(u64::from(params), &mut s);
        s.extend(std::iter::repeat_n(I32, params as usize));
        leb(u64::from(results), &mut s);
        s.extend(std::iter::repeat_n(I32, results as usize));
    }
    section(1, &s, &mut out);
    section(3, &[1, 0], &mut out);
    section(7, &[1, 1, b'f', 0, 0], &mut out);
    let mut body = Vec::new();
    if locals == 0 {
        body.push(0);
    } else {
        body.push(1);
        leb(u64::from(locals), &mut body);
        body.push(I32);
    }
    body.extend_from_slice(code);
    body.push(0x0b);
    let mut s = vec![1];
    leb(body.len() as u64, &mut s);
    s.extend_from_slice(&body);
    section(10, &s, &mut out);
    out
}

/// A `br_table` of `targets` entries (cycling through `blocks` depths) carrying `values`
/// values, inside `blocks` nested blocks of `values` results each. An extra value sits
/// below the carried ones, so no target finds them in its slots. The function returns the
/// `values` results. With `temps`, the carried values are computed (`i32.add`s) rather
/// than read from a local.
fn br_table_module(targets: u32, values: u32, blocks: u32, temps: bool) -> Vec<u8> {
    let mut code = Vec::new();
    for _ in 0..blocks {
        code.extend_from_slice(&[0x02, 0x01]); // block (type 1)
    }
    code.extend_from_slice(&[0x20, 0x00]); // the extra value below
    for _ in 0..values {
        code.extend_from_slice(&[0x20, 0x00]); // local.get 0
        if temps {
            code.extend_from_slice(&[0x20, 0x00, 0x6a]); // local.get 0; i32.add
        }
    }
    code.extend_from_slice(&[0x20, 0x00, 0x0e]); // the index; br_table
    leb(u64::from(targets), &mut code);
    for i in 0..targets {
        leb(u64::from(i % blocks), &mut code);
    }
    code.push(0x00); // the default
    code.extend(std::iter::repeat_n(0x0b, blocks as usize)); // the blocks' ends
    module(&[(0, values), (0, values)], 1, &code)
}

/// `branches` times `br_if 0` carrying `values` values (with an extra value below them),
/// then `br 0` out of the block of `values` results.
fn br_if_module(branches: u32, values: u32, temps: bool) -> Vec<u8> {
    let mut code = vec![0x02, 0x01, 0x20, 0x00]; // block (type 1); the extra value
    for _ in 0..values {
        code.extend_from_slice(&[0x20, 0x00]);
        if temps {
            code.extend_from_slice(&[0x20, 0x00, 0x6a]);
        }
    }
    for _ in 0..branches {
        code.extend_from_slice(&[0x20, 0x00, 0x0d, 0x00]); // local.get 0; br_if 0
    }
    code.extend_from_slice(&[0x0c, 0x00, 0x0b]); // br 0; end
    module(&[(0, values), (0, values)], 1, &code)
}

/// Compiles `bytes` within the bounds: the module either translates or is refused with a
/// compile error, either way within the time and memory bounds. Returns whether it
/// translated.
fn compiles_within_bounds(engine: &Engine, name: &str, bytes: &[u8]) -> Option<Module> {
    let (result, time, peak) = measure(|| Module::new(engine, bytes));
    eprintln!(
        "{name}: {} KiB in {:.3} s, peak {:.1} MiB: {}",
        bytes.len() / 1024,
        time.as_secs_f64(),
        peak as f64 / MIB as f64,
        match &result {
            Ok(_) => "translated".to_string(),
            Err(e) => format!("refused: {e}"),
        }
    );
    assert!(time < TIME_BOUND, "{name}: translation took {time:?}");
    assert!(
        peak < MEMORY_BOUND,
        "{name}: translation allocated {peak} bytes"
    );
    match result {
        Ok(m) => Some(m),
        Err(e) => {
            assert!(
                matches!(e.kind(), ErrorKind::Compile { .. }),
                "{name}: refused with a non-compile error: {e}"
            );
            None
        }
    }
}

/// Runs the module's "f" with local 0 = 0 (so `br_if`s fall through and `br_table`s take
/// their first entry); every result must be 0.
fn runs_to_zeros(engine: &Engine, module: &Module, values: usize) {
    let mut store = Store::new(engine, ());
    let instance = Linker::new(engine).instantiate(&mut store, module).unwrap();
    let f = instance.get_func(&store, "f").unwrap();
    let mut results = vec![Val::I32(1); values];
    f.call(&mut store, &[], &mut results).unwrap();
    assert!(results.iter().all(|v| *v == Val::I32(0)));
}

#[test]
fn br_table_with_many_values_translates_within_bounds() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let engine = interpreter();
    // The 7 KB module of the report (2,000 targets, 1,000 values): 106 MiB before.
    let m = compiles_within_bounds(
        &engine,
        "br_table 2000x1000",
        &br_table_module(2000, 1000, 10, false),
    );
    if let Some(m) = m {
        runs_to_zeros(&engine, &m, 1000);
    }
    // Every target a distinct depth, and computed values.
    let m = compiles_within_bounds(
        &engine,
        "br_table 2000x1000, 2000 depths, temps",
        &br_table_module(2000, 1000, 2000, true),
    );
    if let Some(m) = m {
        runs_to_zeros(&engine, &m, 1000);
    }
    // 35 KB: 5 s and 1.5 GiB before.
    compiles_within_bounds(
        &engine,
        "br_table 30000x1000",
        &br_table_module(30_000, 1000, 100, false),
    );
}

#[test]
fn huge_br_table_translates_within_bounds() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let engine = interpreter();
    // 1 MB, a million targets: 20 GiB and an abort before.
    let m = compiles_within_bounds(
        &engine,
        "br_table 1000000x1000",
        &br_table_module(1_000_000, 1000, 100, false),
    );
    if let Some(m) = m {
        runs_to_zeros(&engine, &m, 1000);
    }
}

#[test]
fn repeated_br_if_with_many_values_translates_within_bounds() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let engine = interpreter();
    // 1.8 s and 1.5 GiB before.
    let m = compiles_within_bounds(
        &engine,
        "br_if 30000x1000",
        &br_if_module(30_000, 1000, false),
    );
    if let Some(m) = m {
        runs_to_zeros(&engine, &m, 1000);
    }
    let m = compiles_within_bounds(
        &engine,
        "br_if 30000x1000, temps",
        &br_if_module(30_000, 1000, true),
    );
    if let Some(m) = m {
        runs_to_zeros(&engine, &m, 1000);
    }
}

/// A function of `values` parameters and results that calls itself `calls` times in a row,
/// each call taking the previous one's results.
fn calls_module(calls: u32, values: u32) -> Vec<u8> {
    let mut code = Vec::new();
    for i in 0..values {
        code.push(0x20); // local.get i
        leb(u64::from(i), &mut code);
    }
    for _ in 0..calls {
        code.extend_from_slice(&[0x10, 0x00]); // call 0
    }
    module(&[(values, values)], 0, &code)
}

/// `values` computed values on the stack, then `writes` times `local.get 0; local.set 1`
/// over them: each local write looks through the stack for deferred reads of the local.
fn local_writes_module(writes: u32, values: u32) -> Vec<u8> {
    let mut code = Vec::new();
    for _ in 0..values {
        code.extend_from_slice(&[0x20, 0x00, 0x45]); // local.get 0; i32.eqz
    }
    for _ in 0..writes {
        code.extend_from_slice(&[0x20, 0x00, 0x21, 0x01]); // local.get 0; local.set 1
    }
    code.extend_from_slice(&[0x0c, 0x00]); // br 0 (return the top `values` values)
    module(&[(0, values)], 2, &code)
}

#[test]
fn calls_and_local_writes_over_many_values_translate_within_bounds() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let engine = interpreter();
    compiles_within_bounds(&engine, "call 10000x1000", &calls_module(10_000, 1000));
    // 1 MB of calls moving 2,000 values each.
    compiles_within_bounds(&engine, "call 500000x1000", &calls_module(500_000, 1000));
    compiles_within_bounds(
        &engine,
        "local.set 10000 over 1000",
        &local_writes_module(10_000, 1000),
    );
    // 1 MB of local writes over a stack of 1,000 values.
    compiles_within_bounds(
        &engine,
        "local.set 250000 over 1000",
        &local_writes_module(250_000, 1000),
    );
}

/// The same shapes on the JIT: compiled by Cranelift (`Strategy::Jit`) each compiles or is
/// refused within the bounds, and on the default `Auto` each loads within them and, where
/// the JIT refuses it, runs on the interpreter. Timed in optimized builds only: Cranelift
/// built without optimization is many times slower, and the interpreter's tests above
/// already run in both.
#[cfg(all(feature = "jit", not(debug_assertions)))]
#[test]
fn pathological_shapes_compile_within_bounds_on_the_jit() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut config = Config::new();
    config.strategy(Strategy::Jit).unwrap();
    let jit = Engine::new(&config);
    let auto = Engine::default();
    assert_eq!(auto.strategy(), Strategy::Auto);
    let shapes: [(&str, Vec<u8>, usize); 8] = [
        (
            "br_table 2000x1000",
            br_table_module(2000, 1000, 10, false),
            1000,
        ),
        (
            "br_table 2000x1000, 2000 depths, temps",
            br_table_module(2000, 1000, 2000, true),
            1000,
        ),
        (
            "br_table 30000x1000",
            br_table_module(30_000, 1000, 100, false),
            1000,
        ),
        (
            "br_if 30000x1000, temps",
            br_if_module(30_000, 1000, true),
            1000,
        ),
        // 454 s and 20 GiB in Cranelift before the JIT's bound on the values calls move.
        ("call 10000x1000", calls_module(10_000, 1000), 1000),
        // Just under that bound (65 calls moving 2,000 values each).
        ("call 65x1000", calls_module(65, 1000), 1000),
        (
            "local.set 10000 over 1000",
            local_writes_module(10_000, 1000),
            1000,
        ),
        (
            "local.set 250000 over 1000",
            local_writes_module(250_000, 1000),
            1000,
        ),
    ];
    for (name, bytes, values) in &shapes {
        compiles_within_bounds(&jit, &format!("{name} (jit)"), bytes);
        // A module larger than `Config::auto_compile_at_load` is compiled in the background,
        // which this test does not wait for.
        if bytes.len() > 256 << 10 {
            continue;
        }
        if let Some(m) = compiles_within_bounds(&auto, &format!("{name} (auto)"), bytes)
            && name.starts_with("br_")
        {
            runs_to_zeros(&auto, &m, *values);
        }
    }
    let refused = Module::new(&jit, &calls_module(10_000, 1000)).unwrap_err();
    assert!(
        refused.to_string().contains("too costly for the JIT"),
        "{refused}"
    );
}

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
    let engine = interpreter();
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

/// Branches carrying values, taken and not, with the values deferred to locals and
/// constants (more of them than a conditional branch copies on its own path, so they are
/// materialized first) or computed, to targets whose slots differ: the same results with
/// and without fusion and fuel.
#[test]
fn branches_with_values_move_them_right() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let wat = r#"(module
      (type $t (func (result i32 i32 i32 i32)))
      ;; br_if carrying four values from locals and constants, over an extra value.
      (func (export "br_if") (param $a i32) (param $c i32) (result i32 i32 i32 i32)
        (local $x i32)
        (local.set $x (i32.mul (local.get $a) (i32.const 3)))
        (block $out (type $t)
          (i32.const 99)
          (local.get $a) (local.get $x) (i32.const 5) (i32.add (local.get $a) (i32.const 1))
          (br_if $out (i32.lt_u (local.get $c) (i32.const 10)))
          (local.set $x) (drop) (drop) (drop) (drop)
          (i32.const 1) (i32.const 2) (i32.const 3) (local.get $x)
          (br $out)))
      ;; br_table carrying three values to blocks at three depths, and to the function.
      (func (export "br_table") (param $i i32) (param $a i32) (result i32 i32 i32)
        (block $d2 (result i32 i32 i32)
          (block $d1 (result i32 i32 i32)
            (block $d0 (result i32 i32 i32)
              (i32.const 7)
              (local.get $a) (i32.const 2) (i32.add (local.get $a) (local.get $a))
              (br_table $d0 $d1 $d2 $d1 3 $d0 (local.get $i)))
            (i32.const 100) (i32.add) (return))
          (i32.const 200) (i32.add) (return))
        (i32.const 300) (i32.add)))"#;
    let bytes = wat::parse_str(wat).unwrap();
    for (fuse, fuel) in [(true, false), (false, false), (true, true)] {
        let mut config = Config::default();
        config.strategy(Strategy::Interpreter).unwrap();
        config.fuse_instructions(fuse).consume_fuel(fuel);
        let engine = Engine::new(&config);
        let module = Module::new(&engine, &bytes).unwrap();
        let mut store = Store::new(&engine, ());
        if fuel {
            store.set_fuel(1 << 40).unwrap();
        }
        let instance = Linker::new(&engine)
            .instantiate(&mut store, &module)
            .unwrap();
        let br_if = instance
            .get_typed_func::<(i32, i32), (i32, i32, i32, i32)>(&store, "br_if")
            .unwrap();
        for a in [0, 4] {
            assert_eq!(
                br_if.call(&mut store, (a, 0)).unwrap(),
                (a, a * 3, 5, a + 1)
            );
            assert_eq!(br_if.call(&mut store, (a, 10)).unwrap(), (1, 2, 3, a + 1));
        }
        let br_table = instance
            .get_typed_func::<(i32, i32), (i32, i32, i32)>(&store, "br_table")
            .unwrap();
        for (i, added) in [
            (0, 100),
            (1, 200),
            (2, 300),
            (3, 200),
            (4, 0),
            (5, 100),
            (9, 100),
        ] {
            assert_eq!(
                br_table.call(&mut store, (i, 6)).unwrap(),
                (6, 2, 12 + added),
                "i = {i}"
            );
        }
    }
}

/// A refused module leaves nothing allocated behind, also when the refused operator owns
/// memory (`try_table`'s list of catches, of a proposal the engine does not enable). The
/// fuzz target `compile_run` found this leak: the operator was built before the validator
/// refused it, then forgotten.
#[test]
fn a_refused_module_leaks_nothing() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let engine = interpreter();
    // (func (block (try_table (catch_all 0)))): exceptions are not enabled.
    let code = [0x02, 0x40, 0x1f, 0x40, 0x01, 0x02, 0x00, 0x0b, 0x0b];
    let bytes = module(&[(0, 0)], 0, &code);
    assert!(Module::new(&engine, &bytes).is_err());
    let before = THREAD_NET.with(Cell::get);
    for _ in 0..1000 {
        let e = Module::new(&engine, &bytes).unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::Compile { .. }), "{e}");
    }
    // This thread's allocations only (the harness's threads allocate meanwhile); the leak
    // was 12 bytes a module.
    let grown = THREAD_NET.with(Cell::get) - before;
    assert_eq!(
        grown, 0,
        "1,000 refused modules left {grown} bytes allocated"
    );
}
