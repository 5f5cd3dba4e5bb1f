//! Embedding API behaviour: resumable execution, stack exhaustion, shared-library memory,
//! cross-store handles, limits and host functions.

use weft_engine::*;

mod common;

fn module(engine: &Engine, wat: &str) -> Module {
    Module::new(engine, wat::parse_str(wat).expect("valid wat")).expect("valid module")
}

const LOOP: &str = r#"(module
  (func (export "sum") (param $n i64) (result i64) (local $acc i64)
    (block $done
      (loop $next
        (br_if $done (i64.eqz (local.get $n)))
        (local.set $acc (i64.add (local.get $acc) (i64.mul (local.get $n) (local.get $n))))
        (local.set $n (i64.sub (local.get $n) (i64.const 1)))
        (br $next)))
    (local.get $acc)))"#;

fn fuel_engine() -> Engine {
    let mut config = common::config();
    config.consume_fuel(true);
    Engine::new(&config)
}

#[test]
fn fuel_slices_resume_to_the_same_result_as_one_run() {
    let n = 100_000i64;
    // One unlimited run (no fuel accounting at all).
    let engine = common::engine();
    let m = module(&engine, LOOP);
    let mut store = Store::new(&engine, ());
    let inst = Linker::new(&engine).instantiate(&mut store, &m).unwrap();
    let expected = inst
        .get_typed_func::<i64, i64>(&store, "sum")
        .unwrap()
        .call(&mut store, n)
        .unwrap();

    // The same computation in slices of 1,000 fuel.
    let engine = fuel_engine();
    let m = module(&engine, LOOP);
    let mut store = Store::new(&engine, ());
    let inst = Linker::new(&engine).instantiate(&mut store, &m).unwrap();
    let sum = inst.get_func(&store, "sum").unwrap();
    store.set_fuel(1_000).unwrap();
    let mut results = [Val::I64(0)];
    let mut call = sum
        .call_resumable(&mut store, &[Val::I64(n)], &mut results)
        .unwrap();
    let mut slices = 1;
    while let ResumableCall::OutOfFuel(inv) = call {
        assert_eq!(inv.yield_tag(), None);
        store.set_fuel(1_000).unwrap();
        call = inv.resume(&mut store, &[], &mut results).unwrap();
        slices += 1;
    }
    assert!(matches!(call, ResumableCall::Finished));
    assert!(
        slices > 100,
        "only {slices} slices: fuel is not being charged"
    );
    assert_eq!(results[0], Val::I64(expected));
}

#[test]
fn running_out_of_fuel_in_a_plain_call_traps_and_the_store_stays_usable() {
    let engine = fuel_engine();
    let m = module(&engine, LOOP);
    let mut store = Store::new(&engine, ());
    let inst = Linker::new(&engine).instantiate(&mut store, &m).unwrap();
    let sum = inst.get_typed_func::<i64, i64>(&store, "sum").unwrap();
    store.set_fuel(50).unwrap();
    let err = sum.call(&mut store, 1_000).unwrap_err();
    assert_eq!(err.trap_code(), Some(TrapCode::OutOfFuel));
    store.set_fuel(1_000_000).unwrap();
    assert_eq!(sum.call(&mut store, 3).unwrap(), 14);
    assert!(store.get_fuel().unwrap() < 1_000_000);
}

#[test]
fn fuel_is_an_error_when_disabled() {
    let mut store = Store::new(&common::engine(), ());
    assert!(store.set_fuel(1).is_err());
    assert!(store.get_fuel().is_err());
}

#[test]
fn host_yield_suspends_and_resume_supplies_the_host_results() {
    let engine = common::engine();
    let m = module(
        &engine,
        r#"(module
          (import "host" "read" (func $read (param i32) (result i32 i32)))
          (func (export "run") (result i32)
            (local $total i32) (local $i i32)
            (loop $again
              (call $read (local.get $i))
              i32.mul
              local.get $total
              i32.add
              local.set $total
              (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (br_if $again (i32.lt_u (local.get $i) (i32.const 3))))
            (local.get $total)))"#,
    );
    let mut store = Store::new(&engine, Vec::<i32>::new());
    let mut linker = Linker::new(&engine);
    linker
        .func_wrap(
            "host",
            "read",
            |mut caller: Caller<'_, Vec<i32>>, i: i32| -> Result<(i32, i32)> {
                caller.data_mut().push(i);
                Err(Error::host_yield(100 + i as u64))
            },
        )
        .unwrap();
    let inst = linker.instantiate(&mut store, &m).unwrap();
    let run = inst.get_func(&store, "run").unwrap();
    let mut results = [Val::I32(0)];
    let mut call = run.call_resumable(&mut store, &[], &mut results).unwrap();
    let mut k = 0;
    while let ResumableCall::HostYield(inv) = call {
        assert_eq!(inv.yield_tag(), Some(100 + k));
        assert_eq!(inv.host_result_types(), &[ValType::I32, ValType::I32]);
        let host = [Val::I32(k as i32 + 1), Val::I32(10)];
        call = inv.resume(&mut store, &host, &mut results).unwrap();
        k += 1;
    }
    assert!(matches!(call, ResumableCall::Finished));
    assert_eq!(store.data(), &[0, 1, 2]);
    assert_eq!(results[0], Val::I32(10 + 20 + 30));

    // The same host function yielding in a plain call is an error, not a hang.
    let err = run.call(&mut store, &[], &mut results).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Yield(100)));
}

#[test]
fn resuming_with_wrong_host_results_is_an_error() {
    let engine = common::engine();
    let m = module(
        &engine,
        r#"(module (import "h" "f" (func $f (result i64)))
             (func (export "run") (result i64) (call $f)))"#,
    );
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::new(&engine);
    linker
        .func_wrap("h", "f", || -> Result<i64> { Err(Error::host_yield(7)) })
        .unwrap();
    let inst = linker.instantiate(&mut store, &m).unwrap();
    let run = inst.get_func(&store, "run").unwrap();
    let mut out = [Val::I64(0)];
    let ResumableCall::HostYield(inv) = run.call_resumable(&mut store, &[], &mut out).unwrap()
    else {
        panic!("expected a yield");
    };
    assert!(inv.resume(&mut store, &[Val::I32(1)], &mut out).is_err());
}

const RECURSE: &str = r#"(module
  (func $down (export "down") (param i32) (result i32)
    (if (result i32) (i32.eqz (local.get 0))
      (then (i32.const 0))
      (else (i32.add (i32.const 1) (call $down (i32.sub (local.get 0) (i32.const 1)))))))
  (func $forever (export "forever") (call $forever)))"#;

#[test]
fn deep_recursion_ends_in_stack_overflow_at_the_configured_depth() {
    let mut config = common::config();
    config.max_call_depth(500);
    let engine = Engine::new(&config);
    let m = module(&engine, RECURSE);
    let mut store = Store::new(&engine, ());
    let inst = Linker::new(&engine).instantiate(&mut store, &m).unwrap();
    let down = inst.get_typed_func::<i32, i32>(&store, "down").unwrap();
    assert_eq!(down.call(&mut store, 400).unwrap(), 400);
    // The JIT bounds recursion by its fiber's stack, not by a frame count.
    let deep = if common::on_jit() { 10_000_000 } else { 600 };
    let err = down.call(&mut store, deep).unwrap_err();
    assert_eq!(err.trap_code(), Some(TrapCode::StackOverflow));
    // The store is still usable after the trap.
    assert_eq!(down.call(&mut store, 10).unwrap(), 10);
}

#[test]
fn unbounded_recursion_never_overflows_the_host_stack() {
    // A million frames deep would overflow any host stack if each Wasm call recursed on it;
    // the test thread's stack is deliberately small.
    let handle = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(|| {
            let mut config = common::config();
            config.max_call_depth(1_000_000).max_stack_slots(16 << 20);
            let engine = Engine::new(&config);
            let m = module(&engine, RECURSE);
            let mut store = Store::new(&engine, ());
            let inst = Linker::new(&engine).instantiate(&mut store, &m).unwrap();
            let forever = inst.get_typed_func::<(), ()>(&store, "forever").unwrap();
            forever.call(&mut store, ()).unwrap_err().trap_code()
        })
        .unwrap();
    assert_eq!(handle.join().unwrap(), Some(TrapCode::StackOverflow));
}

#[test]
fn store_call_depth_limit_applies() {
    let engine = common::engine();
    let m = module(&engine, RECURSE);
    let mut store = Store::new(&engine, ());
    store.limiter(StoreLimits {
        call_depth: 50,
        ..StoreLimits::default()
    });
    let inst = Linker::new(&engine).instantiate(&mut store, &m).unwrap();
    let down = inst.get_typed_func::<i32, i32>(&store, "down").unwrap();
    assert_eq!(down.call(&mut store, 40).unwrap(), 40);
    // The JIT bounds recursion by its fiber's stack, not by a frame count.
    let deep = if common::on_jit() { 10_000_000 } else { 60 };
    assert_eq!(
        down.call(&mut store, deep).unwrap_err().trap_code(),
        Some(TrapCode::StackOverflow)
    );
}

const PROCESS: &str = r#"(module
  (import "lib" "put" (func $put (param i32 i32)))
  (import "lib" "sum" (func $sum (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "main") (param $seed i32) (result i32)
    (call $put (i32.const 100) (local.get $seed))
    (call $put (i32.const 104) (i32.mul (local.get $seed) (i32.const 2)))
    (call $sum (i32.const 100) (i32.const 2))))"#;

const LIBRARY: &str = r#"(module
  (import "env" "memory" (memory 1))
  (func (export "put") (param $addr i32) (param $v i32)
    (i32.store (local.get $addr) (local.get $v)))
  (func (export "sum") (param $addr i32) (param $n i32) (result i32) (local $acc i32)
    (block $done (loop $next
      (br_if $done (i32.eqz (local.get $n)))
      (local.set $acc (i32.add (local.get $acc) (i32.load (local.get $addr))))
      (local.set $addr (i32.add (local.get $addr) (i32.const 4)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $next)))
    (local.get $acc)))"#;

/// Links a process the way the kernel does when the process calls into a library: the
/// kernel creates the process's memory, the library is instantiated against it
/// (`env.memory`), and the process is instantiated against the memory and the library.
fn spawn(
    engine: &Engine,
    store: &mut Store<()>,
    lib: &Module,
    process: &Module,
) -> (Instance, Memory) {
    let memory = Memory::new(&mut *store, MemoryType::new(1, None)).unwrap();
    let mut linker = Linker::new(engine);
    linker.define(&*store, "env", "memory", memory).unwrap();
    let lib_inst = linker.instantiate(&mut *store, lib).unwrap();
    linker.instance(&mut *store, "lib", lib_inst).unwrap();
    (linker.instantiate(&mut *store, process).unwrap(), memory)
}

#[test]
fn shared_library_writes_are_seen_by_its_process_and_no_other() {
    let engine = common::engine();
    let lib = module(&engine, LIBRARY);
    let process = module(
        &engine,
        &PROCESS.replace(
            r#"(memory (export "memory") 1)"#,
            r#"(import "env" "memory" (memory 1))"#,
        ),
    );
    let mut store = Store::new(&engine, ());
    let (a, mem_a) = spawn(&engine, &mut store, &lib, &process);
    let (b, mem_b) = spawn(&engine, &mut store, &lib, &process);
    let main_a = a.get_typed_func::<i32, i32>(&store, "main").unwrap();
    let main_b = b.get_typed_func::<i32, i32>(&store, "main").unwrap();
    assert_eq!(main_a.call(&mut store, 5).unwrap(), 15);
    assert_eq!(main_b.call(&mut store, 7).unwrap(), 21);
    let word = |store: &Store<()>, m: Memory, at: usize| {
        let mut b = [0u8; 4];
        m.read(store, at, &mut b).unwrap();
        i32::from_le_bytes(b)
    };
    assert_eq!(word(&store, mem_a, 100), 5);
    assert_eq!(word(&store, mem_b, 100), 7);
    assert_eq!(word(&store, mem_a, 104), 10);
    assert_eq!(word(&store, mem_b, 104), 14);
}

#[test]
fn library_instantiated_against_a_process_memory_writes_into_it() {
    // The process defines and exports its memory; a library instance is linked against
    // each process's memory.
    let engine = common::engine();
    let process = module(
        &engine,
        r#"(module (memory (export "memory") 1)
             (func (export "peek") (param i32) (result i32) (i32.load (local.get 0))))"#,
    );
    let lib = module(&engine, LIBRARY);
    let mut store = Store::new(&engine, ());
    let linker = Linker::new(&engine);
    let p1 = linker.instantiate(&mut store, &process).unwrap();
    let p2 = linker.instantiate(&mut store, &process).unwrap();
    let mut l1 = Linker::new(&engine);
    l1.instance(&mut store, "env", p1).unwrap();
    let lib1 = l1.instantiate(&mut store, &lib).unwrap();
    let mut l2 = Linker::new(&engine);
    l2.instance(&mut store, "env", p2).unwrap();
    let lib2 = l2.instantiate(&mut store, &lib).unwrap();

    let put1 = lib1
        .get_typed_func::<(i32, i32), ()>(&store, "put")
        .unwrap();
    let put2 = lib2
        .get_typed_func::<(i32, i32), ()>(&store, "put")
        .unwrap();
    put1.call(&mut store, (8, 111)).unwrap();
    put2.call(&mut store, (8, 222)).unwrap();
    let peek1 = p1.get_typed_func::<i32, i32>(&store, "peek").unwrap();
    let peek2 = p2.get_typed_func::<i32, i32>(&store, "peek").unwrap();
    assert_eq!(peek1.call(&mut store, 8).unwrap(), 111);
    assert_eq!(peek2.call(&mut store, 8).unwrap(), 222);
}

#[test]
fn handles_from_another_store_are_errors() {
    let engine = common::engine();
    let m = module(
        &engine,
        r#"(module (memory (export "m") 1) (global (export "g") (mut i32) (i32.const 1))
             (table (export "t") 1 funcref)
             (func (export "f") (param funcref)))"#,
    );
    let mut a = Store::new(&engine, ());
    let mut b = Store::new(&engine, ());
    let linker = Linker::new(&engine);
    let ia = linker.instantiate(&mut a, &m).unwrap();
    let _ib = linker.instantiate(&mut b, &m).unwrap();
    let f = ia.get_func(&a, "f").unwrap();
    assert!(f.call(&mut b, &[Val::FuncRef(None)], &mut []).is_err());
    // A funcref from store `a` passed into store `a`'s function works; into `b` it doesn't.
    let fb = _ib.get_func(&b, "f").unwrap();
    assert!(f.call(&mut a, &[Val::FuncRef(Some(f))], &mut []).is_ok());
    assert!(fb.call(&mut b, &[Val::FuncRef(Some(f))], &mut []).is_err());
    let mem = ia.get_memory(&a, "m").unwrap();
    assert!(mem.size(&b).is_err());
    assert!(mem.write(&mut b, 0, &[1]).is_err());
    let g = ia.get_global(&a, "g").unwrap();
    assert!(g.get(&b).is_err());
    assert!(g.set(&mut b, Val::I32(2)).is_err());
    let t = ia.get_table(&a, "t").unwrap();
    assert!(t.get(&b, 0).is_err());
    assert!(ia.get_export(&b, "m").is_none());
    let mut lb = Linker::new(&engine);
    assert!(lb.define(&b, "x", "m", mem).is_err());
    let ext = ExternRef::new(&mut a, 5u32);
    assert!(ext.data(&b).is_err());
    assert_eq!(ext.data(&a).unwrap().downcast_ref::<u32>(), Some(&5));
}

#[test]
fn memory_grow_past_the_store_limit_returns_minus_one() {
    let engine = common::engine();
    let m = module(
        &engine,
        r#"(module (memory 1)
             (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))"#,
    );
    let mut store = Store::new(&engine, ());
    store.limiter(StoreLimits {
        memory_pages: 4,
        ..StoreLimits::default()
    });
    let inst = Linker::new(&engine).instantiate(&mut store, &m).unwrap();
    let grow = inst.get_typed_func::<i32, i32>(&store, "grow").unwrap();
    assert_eq!(grow.call(&mut store, 2).unwrap(), 1);
    assert_eq!(grow.call(&mut store, 2).unwrap(), -1);
    assert_eq!(grow.call(&mut store, 1).unwrap(), 3);
}

#[test]
fn instantiation_past_a_store_limit_is_an_error() {
    let engine = common::engine();
    let big = module(&engine, r#"(module (memory 10))"#);
    let mut store = Store::new(&engine, ());
    store.limiter(StoreLimits {
        memory_pages: 4,
        instances: 1,
        ..StoreLimits::default()
    });
    let linker = Linker::new(&engine);
    let err = linker.instantiate(&mut store, &big).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Instantiation(_)), "{err}");
    let small = module(&engine, r#"(module (table 10 funcref))"#);
    linker.instantiate(&mut store, &small).unwrap();
    let err = linker.instantiate(&mut store, &small).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Instantiation(_)), "{err}");
}

#[test]
fn table_grow_past_the_store_limit_returns_minus_one() {
    let engine = common::engine();
    let m = module(
        &engine,
        r#"(module (table 1 funcref)
             (func (export "grow") (param i32) (result i32)
               (table.grow (ref.null func) (local.get 0))))"#,
    );
    let mut store = Store::new(&engine, ());
    store.limiter(StoreLimits {
        table_elements: 10,
        ..StoreLimits::default()
    });
    let inst = Linker::new(&engine).instantiate(&mut store, &m).unwrap();
    let grow = inst.get_typed_func::<i32, i32>(&store, "grow").unwrap();
    assert_eq!(grow.call(&mut store, 9).unwrap(), 1);
    assert_eq!(grow.call(&mut store, 1).unwrap(), -1);
}

#[test]
fn host_functions_see_the_callers_memory_and_host_data() {
    let engine = common::engine();
    let m = module(
        &engine,
        r#"(module (import "env" "log" (func $log (param i32 i32)))
             (memory (export "memory") 1)
             (data (i32.const 16) "hello, weft")
             (func (export "main") (call $log (i32.const 16) (i32.const 11))))"#,
    );
    let mut store = Store::new(&engine, String::new());
    let mut linker = Linker::new(&engine);
    linker
        .func_wrap(
            "env",
            "log",
            |mut caller: Caller<'_, String>, ptr: i32, len: i32| -> Result<()> {
                let mem = caller
                    .get_export("memory")
                    .and_then(Extern::into_memory)
                    .ok_or_else(|| Error::host("no memory"))?;
                let mut buf = vec![0; len as usize];
                mem.read(&caller, ptr as usize, &mut buf)?;
                caller.data_mut().push_str(&String::from_utf8_lossy(&buf));
                Ok(())
            },
        )
        .unwrap();
    let inst = linker.instantiate(&mut store, &m).unwrap();
    inst.get_typed_func::<(), ()>(&store, "main")
        .unwrap()
        .call(&mut store, ())
        .unwrap();
    assert_eq!(store.data(), "hello, weft");
}

#[test]
fn host_errors_are_traps_and_the_store_stays_usable() {
    let engine = common::engine();
    let m = module(
        &engine,
        r#"(module (import "env" "check" (func $check (param i32) (result i32)))
             (func (export "run") (param i32) (result i32) (call $check (local.get 0))))"#,
    );
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::new(&engine);
    linker
        .func_wrap("env", "check", |x: i32| -> Result<i32> {
            if x < 0 {
                Err(Error::host("negative"))
            } else {
                Ok(x * 2)
            }
        })
        .unwrap();
    let inst = linker.instantiate(&mut store, &m).unwrap();
    let run = inst.get_typed_func::<i32, i32>(&store, "run").unwrap();
    let err = run.call(&mut store, -1).unwrap_err();
    assert_eq!(err.trap_code(), Some(TrapCode::Host));
    assert!(err.to_string().contains("negative"));
    assert_eq!(run.call(&mut store, 21).unwrap(), 42);
}

#[test]
fn traps_are_values_and_the_next_call_works() {
    let engine = common::engine();
    let m = module(
        &engine,
        r#"(module (memory 1)
             (func (export "div") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))
             (func (export "load") (param i32) (result i32) (i32.load (local.get 0))))"#,
    );
    let mut store = Store::new(&engine, ());
    let inst = Linker::new(&engine).instantiate(&mut store, &m).unwrap();
    let div = inst
        .get_typed_func::<(i32, i32), i32>(&store, "div")
        .unwrap();
    let load = inst.get_typed_func::<i32, i32>(&store, "load").unwrap();
    assert_eq!(
        div.call(&mut store, (1, 0)).unwrap_err().trap_code(),
        Some(TrapCode::IntegerDivisionByZero)
    );
    assert_eq!(
        div.call(&mut store, (i32::MIN, -1))
            .unwrap_err()
            .trap_code(),
        Some(TrapCode::IntegerOverflow)
    );
    assert_eq!(
        load.call(&mut store, 65534).unwrap_err().trap_code(),
        Some(TrapCode::MemoryOutOfBounds)
    );
    assert_eq!(div.call(&mut store, (7, 2)).unwrap(), 3);
}

#[test]
fn bad_modules_are_errors_with_messages() {
    let engine = common::engine();
    for bytes in [
        &b""[..],
        b"\0asm",
        b"\0asm\x01\0\0\0\x01\xff\xff\xff\xff\x0f",
        b"garbage that is not wasm",
    ] {
        let err = Module::new(&engine, bytes).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::Compile { .. }));
        assert!(!err.to_string().is_empty());
    }
    // Valid binary, invalid code: type mismatch.
    let invalid = wat::parse_str(r#"(module (func (result i32) (i64.const 1)))"#).unwrap();
    assert!(Module::new(&engine, invalid).is_err());
    // SIMD is not supported: a clear error.
    let simd = wat::parse_str(r#"(module (func (drop (v128.const i64x2 0 0))))"#).unwrap();
    assert!(Module::new(&engine, simd).is_err());
}

#[test]
fn wrong_arguments_are_errors() {
    let engine = common::engine();
    let m = module(
        &engine,
        r#"(module (func (export "f") (param i32) (result i32) (local.get 0)))"#,
    );
    let mut store = Store::new(&engine, ());
    let inst = Linker::new(&engine).instantiate(&mut store, &m).unwrap();
    let f = inst.get_func(&store, "f").unwrap();
    let mut out = [Val::I32(0)];
    assert!(f.call(&mut store, &[], &mut out).is_err());
    assert!(f.call(&mut store, &[Val::I64(1)], &mut out).is_err());
    assert!(f.call(&mut store, &[Val::I32(1)], &mut []).is_err());
    assert!(inst.get_typed_func::<i64, i32>(&store, "f").is_err());
    f.call(&mut store, &[Val::I32(9)], &mut out).unwrap();
    assert_eq!(out[0], Val::I32(9));
}

#[test]
fn module_reports_imports_and_exports_with_types() {
    let engine = common::engine();
    let m = module(&engine, LIBRARY);
    let imports: Vec<_> = m
        .imports()
        .map(|i| (i.module().to_string(), i.name().to_string(), i.ty()))
        .collect();
    assert_eq!(
        imports,
        vec![(
            "env".to_string(),
            "memory".to_string(),
            ExternType::Memory(MemoryType::new(1, None))
        )]
    );
    let exports: Vec<_> = m.exports().map(|e| (e.name(), e.ty())).collect();
    assert_eq!(
        exports[1],
        (
            "sum",
            ExternType::Func(FuncType::new([ValType::I32, ValType::I32], [ValType::I32]))
        )
    );
}

#[test]
fn missing_imports_are_link_errors() {
    let engine = common::engine();
    let m = module(&engine, LIBRARY);
    let mut store = Store::new(&engine, ());
    let err = Linker::new(&engine)
        .instantiate(&mut store, &m)
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Link(_)));
    assert!(err.to_string().contains("env::memory"), "{err}");
}

#[test]
fn instance_exports_iterate_in_order() {
    let engine = common::engine();
    let m = module(
        &engine,
        r#"(module (func (export "a")) (memory (export "b") 1) (global (export "c") i32 (i32.const 3)))"#,
    );
    let mut store = Store::new(&engine, ());
    let inst = Linker::new(&engine).instantiate(&mut store, &m).unwrap();
    let names: Vec<_> = inst.exports(&store).map(|e| e.name()).collect();
    assert_eq!(names, ["a", "b", "c"]);
    let c = inst.get_global(&store, "c").unwrap();
    assert_eq!(c.get(&store).unwrap(), Val::I32(3));
}

#[test]
fn errors_are_one_pointer() {
    assert_eq!(std::mem::size_of::<Error>(), std::mem::size_of::<usize>());
}

#[test]
fn typed_host_functions_with_more_results_than_params() {
    let engine = common::engine();
    let m = module(
        &engine,
        r#"(module (import "h" "split" (func $split (param i64) (result i32 i32 f64)))
             (func (export "run") (param i64) (result f64) (local $c f64) (local $b i32)
               (call $split (local.get 0))
               (local.set $c) (local.set $b)
               (f64.convert_i32_s)
               (f64.add (f64.convert_i32_s (local.get $b)))
               (f64.add (local.get $c))))"#,
    );
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::new(&engine);
    linker
        .func_wrap("h", "split", |x: i64| -> (i32, i32, f64) {
            ((x >> 32) as i32, x as i32, 0.5)
        })
        .unwrap();
    let inst = linker.instantiate(&mut store, &m).unwrap();
    let run = inst.get_typed_func::<i64, f64>(&store, "run").unwrap();
    assert_eq!(run.call(&mut store, (3 << 32) | 4).unwrap(), 7.5);
    // The same function called directly from the host.
    let split = Func::wrap(&mut store, |x: i64| -> (i32, i32, f64) {
        ((x >> 32) as i32, x as i32, 0.5)
    });
    let mut out = [Val::I32(0), Val::I32(0), Val::F64(0)];
    split
        .call(&mut store, &[Val::I64(9 << 32 | 1)], &mut out)
        .unwrap();
    assert_eq!(out, [Val::I32(9), Val::I32(1), Val::from_f64(0.5)]);
}

#[test]
fn a_host_function_returning_another_stores_reference_is_an_error() {
    let engine = common::engine();
    let m = module(
        &engine,
        r#"(module (import "h" "f" (func $f (result funcref)))
             (func (export "run") (result funcref) (call $f)))"#,
    );
    let mut other = Store::new(&engine, ());
    let foreign = Func::wrap(&mut other, || {});
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::new(&engine);
    linker
        .func_wrap("h", "f", move || -> Option<Func> { Some(foreign) })
        .unwrap();
    let inst = linker.instantiate(&mut store, &m).unwrap();
    let run = inst.get_func(&store, "run").unwrap();
    let mut out = [Val::FuncRef(None)];
    assert!(run.call(&mut store, &[], &mut out).is_err());
}

#[test]
fn globals_stay_correct_when_a_host_call_allocates_many() {
    // The executor keeps raw views of the store's globals; a host function that makes the
    // store reallocate them must not leave the running code with a stale view.
    let engine = common::engine();
    let m = module(
        &engine,
        r#"(module (import "h" "alloc" (func $alloc))
             (global $g (mut i32) (i32.const 1))
             (func (export "run") (result i32)
               (global.set $g (i32.add (global.get $g) (i32.const 10)))
               (call $alloc)
               (global.set $g (i32.mul (global.get $g) (i32.const 3)))
               (call $alloc)
               (global.get $g)))"#,
    );
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::new(&engine);
    linker
        .func_wrap("h", "alloc", |mut caller: Caller<'_, ()>| -> Result<()> {
            for i in 0..1000 {
                Global::new(
                    &mut caller,
                    GlobalType::new(ValType::I32, Mutability::Var),
                    Val::I32(i),
                )?;
            }
            Ok(())
        })
        .unwrap();
    let inst = linker.instantiate(&mut store, &m).unwrap();
    let run = inst.get_typed_func::<(), i32>(&store, "run").unwrap();
    assert_eq!(run.call(&mut store, ()).unwrap(), 33);
    assert_eq!(run.call(&mut store, ()).unwrap(), 129);
}

#[test]
fn engine_objects_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Engine>();
    send_sync::<Module>();
    send_sync::<Linker<()>>();
    send::<Store<()>>();
    // A suspended JIT call holds a fiber, which is resumed on the thread that made it.
    #[cfg(not(feature = "jit"))]
    send::<ResumableInvocation>();
    send_sync::<Func>();
    send_sync::<Error>();
}
