//! In optimized builds the interpreter's handlers dispatch to each other by tail calls
//! that LLVM turns into jumps (see `src/exec.rs`). A handler whose call is not turned into
//! a jump would grow the host stack with every instruction it runs. This runs a long loop
//! over the common handler families on a thread with a small stack: if any of them grew
//! the stack, the thread would overflow it and the test would crash. (Debug builds
//! dispatch from a loop and pass trivially; CI runs this test in release too. Breaking the
//! tail calls on purpose makes it crash, as it should.)

use weft_engine::*;

mod common;

const LOOP: &str = r#"(module
  (memory 1)
  (global $g (mut i64) (i64.const 0))
  (func $double (param i64) (result i64) (i64.shl (local.get 0) (i64.const 1)))
  (func $three (param i64) (result i64 i64 i64) (local.get 0) (local.get 0) (local.get 0))
  (func (export "run") (param $n i32) (result i64) (local $i i32) (local $x i64) (local $f f64)
    (loop $top
      ;; arithmetic through the accumulator and immediates
      (local.set $x (i64.add (i64.mul (local.get $x) (i64.const 3)) (i64.extend_i32_u (local.get $i))))
      (local.set $x (i64.xor (local.get $x) (i64.shr_u (local.get $x) (i64.const 7))))
      ;; memory: plain, indexed and bulk
      (i64.store (i32.shl (i32.and (local.get $i) (i32.const 255)) (i32.const 3)) (local.get $x))
      (local.set $x (i64.add (local.get $x)
        (i64.load (i32.shl (i32.and (i32.add (local.get $i) (i32.const 1)) (i32.const 255)) (i32.const 3)))))
      (i32.store8 offset=4096 (i32.and (local.get $i) (i32.const 4095)) (i32.wrap_i64 (local.get $x)))
      (memory.copy (i32.const 8192) (i32.const 4096) (i32.const 16))
      (memory.fill (i32.const 12288) (local.get $i) (i32.const 16))
      ;; floats
      (local.set $f (f64.add (local.get $f) (f64.sqrt (f64.convert_i64_u (local.get $x)))))
      ;; select, globals, calls (one result and several) and branch tables. Nothing that
      ;; leaves the threaded code (host or indirect calls, tables, memory.grow): each exit
      ;; unwinds the host stack and would hide a handler that grows it
      (local.set $x (select (local.get $x) (i64.const 5) (i32.and (local.get $i) (i32.const 1))))
      (global.set $g (i64.add (global.get $g) (call $double (local.get $x))))
      (global.set $g (i64.add (global.get $g) (i64.add (i64.add (call $three (local.get $x))))))
      (block $a (block $b (block $c
        (br_table $a $b $c (i32.and (local.get $i) (i32.const 3))))
        (global.set $g (i64.add (global.get $g) (i64.const 1))))
        (global.set $g (i64.sub (global.get $g) (i64.const 1))))
      (br_if $top (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $n))))
    (i64.add (global.get $g) (i64.trunc_sat_f64_u (local.get $f)))))"#;

#[test]
fn handlers_dispatch_without_growing_the_host_stack() {
    let module = wat::parse_str(LOOP).unwrap();
    let run = move || {
        let engine = common::engine();
        let module = Module::new(&engine, &module).unwrap();
        let mut store = Store::new(&engine, ());
        let instance = Linker::new(&engine)
            .instantiate(&mut store, &module)
            .unwrap();
        let run = instance.get_typed_func::<i32, i64>(&store, "run").unwrap();
        run.call(&mut store, 200_000).unwrap()
    };
    // 256 KiB: a handler that grew the stack by even 8 bytes per instruction would need
    // tens of megabytes for this loop.
    let on_small_stack = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(run.clone())
        .unwrap()
        .join()
        .unwrap();
    // The same computation on a thread with a large stack: same result.
    let reference = std::thread::Builder::new()
        .stack_size(64 * 1024 * 1024)
        .spawn(run)
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(on_small_stack, reference);
}
