//! Resumable calls on the JIT tier through the public API, compared with the interpreter:
//! fuel slices, host yields, and dropping a suspended call.
extern crate std;

use alloc::vec::Vec;

use super::fiber::{fibers_made, stacks_in_use};
use crate::{
    Caller, Config, Engine, Error, Linker, Module, ResumableCall, Store, Strategy, Val, ValType,
};

fn engine(strategy: Strategy) -> Engine {
    let mut config = Config::new();
    config.strategy(strategy).unwrap().consume_fuel(true);
    Engine::new(&config)
}

const SUM: &str = r#"(module
  (func (export "sum") (param $n i32) (result i64)
    (local $acc i64)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $acc (i64.add (local.get $acc) (i64.extend_i32_u (local.get $n))))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next)))
    (local.get $acc)))"#;

/// Runs `sum(n)` in fuel slices of `slice`; the result and how many times it suspended.
fn sum_in_slices(strategy: Strategy, n: i32, slice: u64) -> (i64, u32) {
    let engine = engine(strategy);
    let module = Module::new(&engine, wat::parse_str(SUM).unwrap()).unwrap();
    let mut store = Store::new(&engine, ());
    let inst = Linker::new(&engine)
        .instantiate(&mut store, &module)
        .unwrap();
    let sum = inst.get_func(&store, "sum").unwrap();
    store.set_fuel(slice).unwrap();
    let mut results = [Val::I64(0)];
    let mut call = sum
        .call_resumable(&mut store, &[Val::I32(n)], &mut results)
        .unwrap();
    let mut suspensions = 0;
    while let ResumableCall::OutOfFuel(inv) = call {
        suspensions += 1;
        assert!(suspensions < 1_000_000, "the call makes no progress");
        store.set_fuel(slice).unwrap();
        call = inv.resume(&mut store, &[], &mut results).unwrap();
    }
    assert!(matches!(call, ResumableCall::Finished));
    (results[0].i64().unwrap(), suspensions)
}

#[test]
fn a_loop_run_in_fuel_slices_gives_the_interpreters_result() {
    let n = 20_000;
    let expected = i64::from(n) * i64::from(n + 1) / 2;
    for slice in [50, 1000] {
        let (interp, _) = sum_in_slices(Strategy::Interpreter, n, slice);
        let (jit, suspensions) = sum_in_slices(Strategy::Jit, n, slice);
        assert_eq!(interp, expected);
        assert_eq!(jit, expected);
        assert!(
            suspensions > 10,
            "only {suspensions} suspensions with slices of {slice}"
        );
    }
    assert_eq!(stacks_in_use(), 0);
}

#[test]
fn out_of_fuel_traps_in_a_call_that_cannot_suspend() {
    let engine = engine(Strategy::Jit);
    let module = Module::new(&engine, wat::parse_str(SUM).unwrap()).unwrap();
    let mut store = Store::new(&engine, ());
    let inst = Linker::new(&engine)
        .instantiate(&mut store, &module)
        .unwrap();
    let sum = inst.get_typed_func::<i32, i64>(&store, "sum").unwrap();
    store.set_fuel(100).unwrap();
    let e = sum.call(&mut store, 1000).unwrap_err();
    assert_eq!(e.trap_code(), Some(crate::TrapCode::OutOfFuel));
    store.set_fuel(1_000_000).unwrap();
    assert_eq!(sum.call(&mut store, 10).unwrap(), 55);
}

const YIELDING: &str = r#"(module
  (import "host" "block" (func $block (param i32) (result i32)))
  (func (export "run") (param i32) (result i32)
    (i32.add (call $block (local.get 0)) (i32.const 1))))"#;

fn yielding(strategy: Strategy) -> (Store<Vec<i32>>, crate::Func) {
    let engine = engine(strategy);
    let module = Module::new(&engine, wat::parse_str(YIELDING).unwrap()).unwrap();
    let mut store = Store::new(&engine, Vec::new());
    store.set_fuel(u64::MAX).unwrap();
    let mut linker = Linker::new(&engine);
    linker
        .func_wrap(
            "host",
            "block",
            |mut caller: Caller<'_, Vec<i32>>, x: i32| -> crate::Result<i32> {
                caller.data_mut().push(x);
                Err(Error::host_yield(7))
            },
        )
        .unwrap();
    let inst = linker.instantiate(&mut store, &module).unwrap();
    let run = inst.get_func(&store, "run").unwrap();
    (store, run)
}

#[test]
fn a_host_yield_suspends_and_resumes_with_the_host_results() {
    for strategy in [Strategy::Interpreter, Strategy::Jit] {
        let (mut store, run) = yielding(strategy);
        let mut results = [Val::I32(0)];
        let call = run
            .call_resumable(&mut store, &[Val::I32(5)], &mut results)
            .unwrap();
        let ResumableCall::HostYield(inv) = call else {
            panic!("{strategy:?}: expected a host yield")
        };
        assert_eq!(inv.yield_tag(), Some(7));
        assert_eq!(inv.host_result_types(), &[ValType::I32]);
        assert_eq!(store.data(), &[5]);
        // Wrong host results are an error, not undefined behaviour.
        let call = run
            .call_resumable(&mut store, &[Val::I32(6)], &mut results)
            .unwrap();
        let ResumableCall::HostYield(other) = call else {
            panic!("{strategy:?}: expected a host yield")
        };
        assert!(
            other
                .resume(&mut store, &[Val::I64(1)], &mut results)
                .is_err()
        );
        let done = inv
            .resume(&mut store, &[Val::I32(41)], &mut results)
            .unwrap();
        assert!(matches!(done, ResumableCall::Finished), "{strategy:?}");
        assert_eq!(results[0], Val::I32(42), "{strategy:?}");
        // A plain call cannot suspend: the yield is its error.
        let e = run
            .call(&mut store, &[Val::I32(1)], &mut results)
            .unwrap_err();
        assert!(
            matches!(e.kind(), crate::ErrorKind::Yield(7)),
            "{strategy:?}: {e}"
        );
    }
    assert_eq!(stacks_in_use(), 0);
}

#[test]
fn dropping_a_suspended_call_frees_its_fiber_stack() {
    let before = stacks_in_use();
    let (mut store, run) = yielding(Strategy::Jit);
    let mut results = [Val::I32(0)];
    let mut suspended = Vec::new();
    for i in 0..3 {
        let call = run
            .call_resumable(&mut store, &[Val::I32(i)], &mut results)
            .unwrap();
        let ResumableCall::HostYield(inv) = call else {
            panic!("expected a host yield")
        };
        suspended.push(inv);
    }
    assert_eq!(stacks_in_use(), before + 3);
    drop(suspended);
    assert_eq!(stacks_in_use(), before);
    // The store is still usable.
    let (mut store, run) = (store, run);
    let call = run
        .call_resumable(&mut store, &[Val::I32(1)], &mut results)
        .unwrap();
    let ResumableCall::HostYield(inv) = call else {
        panic!("expected a host yield")
    };
    inv.resume(&mut store, &[Val::I32(1)], &mut results)
        .unwrap();
    assert_eq!(results[0], Val::I32(2));
    assert_eq!(stacks_in_use(), before);
}

#[test]
fn a_suspended_call_outlives_its_store_safely() {
    let before = stacks_in_use();
    let (mut store, run) = yielding(Strategy::Jit);
    let mut results = [Val::I32(0)];
    let call = run
        .call_resumable(&mut store, &[Val::I32(1)], &mut results)
        .unwrap();
    let ResumableCall::HostYield(inv) = call else {
        panic!("expected a host yield")
    };
    // The store (and with it the last handle to the module and the engine) goes first;
    // the call keeps the code its fiber returns into until it is dropped.
    drop(store);
    assert_eq!(stacks_in_use(), before + 1);
    drop(inv);
    assert_eq!(stacks_in_use(), before);
}

const CALLS: &str = r#"(module
  (import "host" "call" (func $host (param i32) (result i32)))
  (func (export "nop"))
  (func (export "trap") unreachable)
  (func (export "add1") (param i32) (result i32) (i32.add (local.get 0) (i32.const 1)))
  (func (export "via_host") (param i32) (result i32) (call $host (local.get 0))))"#;

/// An instance of `CALLS` on the JIT whose host function does what `host` says.
fn calls(
    host: impl Fn(Caller<'_, ()>, i32) -> crate::Result<i32> + Send + Sync + 'static,
) -> (Store<()>, crate::Instance) {
    calls_on(Strategy::Jit, host)
}

fn calls_on(
    strategy: Strategy,
    host: impl Fn(Caller<'_, ()>, i32) -> crate::Result<i32> + Send + Sync + 'static,
) -> (Store<()>, crate::Instance) {
    let engine = engine(strategy);
    let module = Module::new(&engine, wat::parse_str(CALLS).unwrap()).unwrap();
    let mut store = Store::new(&engine, ());
    store.set_fuel(u64::MAX).unwrap();
    let mut linker = Linker::new(&engine);
    linker.func_wrap("host", "call", host).unwrap();
    let inst = linker.instantiate(&mut store, &module).unwrap();
    (store, inst)
}

/// Runs `f` on a thread whose stack is too small for a window of its own (`native`), so
/// that plain calls run on fibers.
fn on_a_small_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(256 << 10)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn plain_calls_run_on_the_callers_stack_and_make_no_fiber() {
    // The test thread's stack (2 MiB) has room for a window.
    assert!(
        super::native::window(&super::fiber::FiberConfig::default()).is_some()
            || !cfg!(target_arch = "x86_64")
    );
    let (mut store, inst) = calls(|_, x| Ok(x + 1));
    let nop = inst.get_typed_func::<(), ()>(&store, "nop").unwrap();
    let trap = inst.get_typed_func::<(), ()>(&store, "trap").unwrap();
    let add1 = inst.get_typed_func::<i32, i32>(&store, "add1").unwrap();
    let via_host = inst.get_typed_func::<i32, i32>(&store, "via_host").unwrap();
    nop.call(&mut store, ()).unwrap();
    let (made, before) = (fibers_made(), stacks_in_use());
    for i in 0..1000 {
        assert_eq!(add1.call(&mut store, i).unwrap(), i + 1);
        assert_eq!(via_host.call(&mut store, i).unwrap(), i + 1);
        if i % 100 == 0 {
            let e = trap.call(&mut store, ()).unwrap_err();
            assert_eq!(e.trap_code(), Some(crate::TrapCode::Unreachable));
            assert_eq!(e.backtrace().map(|b| b.frames().len()), Some(1), "{e}");
        }
    }
    if cfg!(target_arch = "x86_64") {
        assert_eq!(fibers_made(), made, "no call needed a fiber");
    }
    assert_eq!(stacks_in_use(), before);
}

#[test]
fn plain_calls_on_a_small_stack_reuse_the_ready_fiber_also_after_a_trap() {
    on_a_small_stack(|| {
        assert!(super::native::window(&super::fiber::FiberConfig::default()).is_none());
        let (mut store, inst) = calls(|_, x| Ok(x));
        let nop = inst.get_typed_func::<(), ()>(&store, "nop").unwrap();
        let trap = inst.get_typed_func::<(), ()>(&store, "trap").unwrap();
        let add1 = inst.get_typed_func::<i32, i32>(&store, "add1").unwrap();
        let before = stacks_in_use();
        nop.call(&mut store, ()).unwrap();
        let made = fibers_made();
        assert!(made >= 1, "the first call made a fiber");
        for i in 0..1000 {
            assert_eq!(add1.call(&mut store, i).unwrap(), i + 1);
            nop.call(&mut store, ()).unwrap();
        }
        assert_eq!(fibers_made(), made, "every call ran on the ready fiber");
        assert_eq!(stacks_in_use(), before);
        let e = trap.call(&mut store, ()).unwrap_err();
        assert_eq!(e.trap_code(), Some(crate::TrapCode::Unreachable));
        assert_eq!(stacks_in_use(), before);
        // The trapped fiber is not reused: the next call makes one, the later ones reuse it.
        assert_eq!(add1.call(&mut store, 1).unwrap(), 2);
        assert_eq!(fibers_made(), made + 1);
        for i in 0..100 {
            assert_eq!(add1.call(&mut store, i).unwrap(), i + 1);
        }
        assert_eq!(fibers_made(), made + 1);
        assert_eq!(stacks_in_use(), before);
    });
}

const RECURSE: &str = r#"(module
  (global $depth (export "depth") (mut i32) (i32.const 0))
  (func $down (export "down") (param i64 i64 i64 i64) (result i64)
    (global.set $depth (i32.add (global.get $depth) (i32.const 1)))
    (i64.add (local.get 0)
      (call $down (local.get 1) (local.get 2) (local.get 3) (local.get 0)))))"#;

/// How deep `down` gets before it overflows, on this thread, with a host panic or trap
/// check after: the store is usable again.
fn overflow_depth() -> i32 {
    let engine = engine(Strategy::Jit);
    let module = Module::new(&engine, wat::parse_str(RECURSE).unwrap()).unwrap();
    let mut store = Store::new(&engine, ());
    store.set_fuel(u64::MAX).unwrap();
    let inst = Linker::new(&engine)
        .instantiate(&mut store, &module)
        .unwrap();
    let down = inst
        .get_typed_func::<(i64, i64, i64, i64), i64>(&store, "down")
        .unwrap();
    let e = down.call(&mut store, (1, 2, 3, 4)).unwrap_err();
    assert_eq!(e.trap_code(), Some(crate::TrapCode::StackOverflow), "{e}");
    let depth = inst
        .get_global(&store, "depth")
        .unwrap()
        .get(&store)
        .unwrap();
    // Once more, from a deeper caller: still a trap, not a crash.
    let e = down.call(&mut store, (1, 2, 3, 4)).unwrap_err();
    assert_eq!(e.trap_code(), Some(crate::TrapCode::StackOverflow), "{e}");
    depth.i32().unwrap()
}

#[test]
fn deep_recursion_overflows_at_about_the_same_depth_on_the_callers_stack_and_on_a_fiber() {
    let native = overflow_depth();
    let (tx, rx) = std::sync::mpsc::channel();
    on_a_small_stack(move || tx.send(overflow_depth()).unwrap());
    let fiber = rx.recv().unwrap();
    assert!(fiber > 1000, "{fiber}");
    // The thread's stack gives at most a fiber's budget; the test's own frames take a little.
    assert!(
        native <= fiber && native * 10 >= fiber * 9,
        "caller's stack {native}, fiber {fiber}"
    );
}

#[test]
fn a_call_runs_while_another_is_suspended_in_the_same_store_and_after_it_is_dropped() {
    let (mut store, inst) = calls(|_, x| {
        if x < 0 {
            Err(Error::host_yield(9))
        } else {
            Ok(x * 2)
        }
    });
    let via_host = inst.get_func(&store, "via_host").unwrap();
    let add1 = inst.get_typed_func::<i32, i32>(&store, "add1").unwrap();
    let before = stacks_in_use();
    let mut results = [Val::I32(0)];
    let call = via_host
        .call_resumable(&mut store, &[Val::I32(-1)], &mut results)
        .unwrap();
    let ResumableCall::HostYield(first) = call else {
        panic!("expected a host yield")
    };
    assert_eq!(stacks_in_use(), before + 1);
    // Other calls, plain and resumable, run to completion meanwhile.
    for i in 0..10 {
        assert_eq!(add1.call(&mut store, i).unwrap(), i + 1);
        let done = via_host
            .call_resumable(&mut store, &[Val::I32(i)], &mut results)
            .unwrap();
        assert!(matches!(done, ResumableCall::Finished));
        assert_eq!(results[0], Val::I32(i * 2));
    }
    let call = via_host
        .call_resumable(&mut store, &[Val::I32(-2)], &mut results)
        .unwrap();
    let ResumableCall::HostYield(second) = call else {
        panic!("expected a host yield")
    };
    assert_eq!(stacks_in_use(), before + 2);
    let done = first
        .resume(&mut store, &[Val::I32(40)], &mut results)
        .unwrap();
    assert!(matches!(done, ResumableCall::Finished));
    assert_eq!(results[0], Val::I32(40));
    // Dropping the other suspended call frees its stack; the store and the fibers go on.
    drop(second);
    assert_eq!(stacks_in_use(), before);
    let made = fibers_made();
    for i in 0..10 {
        assert_eq!(add1.call(&mut store, i).unwrap(), i + 1);
    }
    assert!(fibers_made() <= made + 1);
    assert_eq!(stacks_in_use(), before);
}

#[test]
fn nested_host_to_wasm_calls_get_fibers_of_their_own() {
    // via_host(n) calls the host, which calls via_host(n - 1) until 0: depth n + 1 fibers.
    let (mut store, inst) = calls(|mut caller, x| {
        if x <= 0 {
            return Ok(100);
        }
        let Some(crate::Extern::Func(f)) = caller.get_export("via_host") else {
            panic!("via_host is exported")
        };
        let f = f.typed::<i32, i32>(&caller).unwrap();
        Ok(f.call(&mut caller, x - 1)? + 1)
    });
    let via_host = inst.get_typed_func::<i32, i32>(&store, "via_host").unwrap();
    let before = stacks_in_use();
    for _ in 0..3 {
        assert_eq!(via_host.call(&mut store, 5).unwrap(), 105);
        assert_eq!(stacks_in_use(), before);
    }
    // A trap deep inside ends only its own call; the outer ones see the error.
    let (mut store, inst) = calls(|mut caller, x| {
        let Some(crate::Extern::Func(f)) =
            caller.get_export(if x == 0 { "trap" } else { "via_host" })
        else {
            panic!("exported")
        };
        if x == 0 {
            f.typed::<(), ()>(&caller).unwrap().call(&mut caller, ())?;
            return Ok(0);
        }
        f.typed::<i32, i32>(&caller)
            .unwrap()
            .call(&mut caller, x - 1)
    });
    let via_host = inst.get_typed_func::<i32, i32>(&store, "via_host").unwrap();
    let e = via_host.call(&mut store, 3).unwrap_err();
    assert_eq!(e.trap_code(), Some(crate::TrapCode::Unreachable), "{e}");
    assert_eq!(stacks_in_use(), before);
    let add1 = inst.get_typed_func::<i32, i32>(&store, "add1").unwrap();
    assert_eq!(add1.call(&mut store, 1).unwrap(), 2);
}

#[test]
fn a_panic_in_a_host_function_reaches_the_caller_and_the_store_stays_usable() {
    for strategy in [Strategy::Interpreter, Strategy::Jit] {
        host_panic_on(strategy);
    }
}

fn host_panic_on(strategy: Strategy) {
    let (mut store, inst) = calls_on(strategy, |_, x| {
        if x == 13 {
            panic!("host function failed on 13");
        }
        Ok(x)
    });
    let via_host = inst.get_typed_func::<i32, i32>(&store, "via_host").unwrap();
    let before = stacks_in_use();
    for _ in 0..3 {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            via_host.call(&mut store, 13)
        }));
        let payload = r.expect_err("the panic comes out of the call");
        assert_eq!(
            payload.downcast_ref::<&str>(),
            Some(&"host function failed on 13")
        );
        assert_eq!(stacks_in_use(), before);
        assert_eq!(via_host.call(&mut store, 7).unwrap(), 7);
    }
}

/// Calls that pass the fuel in the pinned register: direct and indirect recursion, a host
/// import that reads the fuel, a `br_table` loop, and faults deep in a call chain.
const FUEL_CALLS: &str = r#"(module
  (import "host" "fuel" (func $fuel (param i32) (result i32)))
  (type $t (func (param i32) (result i32)))
  (memory 1)
  (table 3 funcref)
  (elem (i32.const 0) $fib $leaf $div)
  (func $fib (export "fib") (param i32) (result i32)
    (if (result i32) (i32.lt_u (local.get 0) (i32.const 2))
      (then (local.get 0))
      (else (i32.add
        (call $fib (i32.sub (local.get 0) (i32.const 1)))
        (call_indirect (type $t) (i32.sub (local.get 0) (i32.const 2)) (i32.const 0))))))
  (func $leaf (param i32) (result i32) (i32.mul (local.get 0) (i32.const 3)))
  (func (export "mix") (param i32) (result i32) (local i32)
    (loop $l
      (block $a (block $b (block $c
        (br_table $a $b $c (i32.rem_u (local.get 0) (i32.const 3))))
        (local.set 1 (i32.add (local.get 1) (call $leaf (local.get 0)))))
        (local.set 1 (i32.xor (local.get 1) (call $fuel (local.get 0)))))
      (br_if $l (local.tee 0 (i32.sub (local.get 0) (i32.const 1)))))
    (local.get 1))
  (func $deep (export "deep") (param i32) (result i32)
    (if (result i32) (i32.eqz (local.get 0))
      (then (i32.load (i32.const 70000)))
      (else (i32.add (i32.const 1) (call $deep (i32.sub (local.get 0) (i32.const 1)))))))
  (func $div (export "div") (param i32) (result i32)
    (if (result i32) (i32.eqz (local.get 0))
      (then (i32.div_u (i32.const 1) (local.get 0)))
      (else (i32.add (i32.const 1)
        (call_indirect (type $t) (i32.sub (local.get 0) (i32.const 1)) (i32.const 2)))))))"#;

/// An instance of [`FUEL_CALLS`] on `strategy` with fuel; the host import records the fuel it
/// sees (the low 32 bits of it are also its result, so the guest's result depends on it).
fn fuel_calls(strategy: Strategy) -> (Store<Vec<u64>>, crate::Instance) {
    let engine = engine(strategy);
    let module = Module::new(&engine, wat::parse_str(FUEL_CALLS).unwrap()).unwrap();
    let mut store = Store::new(&engine, Vec::new());
    let mut linker = Linker::new(&engine);
    linker
        .func_wrap(
            "host",
            "fuel",
            |mut caller: Caller<'_, Vec<u64>>, x: i32| -> crate::Result<i32> {
                let fuel = caller.get_fuel()?;
                caller.data_mut().push(fuel);
                Ok(x ^ fuel as i32)
            },
        )
        .unwrap();
    let inst = linker.instantiate(&mut store, &module).unwrap();
    (store, inst)
}

/// Runs export `name(arg)` with `fuel` in one plain call: its result or trap, the fuel left
/// and what the host import saw.
fn run_fuel_calls(
    strategy: Strategy,
    name: &str,
    arg: i32,
    fuel: u64,
) -> (Result<i32, Option<crate::TrapCode>>, u64, Vec<u64>) {
    let (mut store, inst) = fuel_calls(strategy);
    let f = inst.get_typed_func::<i32, i32>(&store, name).unwrap();
    store.set_fuel(fuel).unwrap();
    let r = f.call(&mut store, arg).map_err(|e| e.trap_code());
    let left = store.get_fuel().unwrap();
    (r, left, store.data().clone())
}

#[test]
fn fuel_passed_in_a_register_is_charged_as_the_interpreter_charges() {
    for (name, arg) in [("fib", 20), ("mix", 300), ("deep", 0), ("deep", 1000)] {
        let interp = run_fuel_calls(Strategy::Interpreter, name, arg, 10_000_000);
        let jit = run_fuel_calls(Strategy::Jit, name, arg, 10_000_000);
        assert!(interp.1 < 10_000_000, "{name}: no fuel used");
        assert_eq!(
            jit, interp,
            "{name}({arg}): (result, fuel left, fuel seen by the host)"
        );
    }
    let (r, _, seen) = run_fuel_calls(Strategy::Jit, "mix", 300, 10_000_000);
    assert!(r.is_ok());
    assert_eq!(
        seen.len(),
        200,
        "the host import ran in two of three iterations"
    );
    assert!(
        seen.windows(2).all(|w| w[0] > w[1]),
        "the host saw the fuel go down"
    );
}

#[test]
fn after_a_fault_deep_in_calls_the_store_holds_the_fuel_the_interpreter_leaves() {
    // A memory fault and a division by zero at the bottom of direct and indirect call
    // chains: the count was in the register, and the store gets it from the fault.
    for (name, arg, code) in [
        ("deep", 0, crate::TrapCode::MemoryOutOfBounds),
        ("deep", 500, crate::TrapCode::MemoryOutOfBounds),
        ("div", 300, crate::TrapCode::IntegerDivisionByZero),
    ] {
        let interp = run_fuel_calls(Strategy::Interpreter, name, arg, 1_000_000);
        let jit = run_fuel_calls(Strategy::Jit, name, arg, 1_000_000);
        assert_eq!(interp.0, Err(Some(code)), "{name}({arg})");
        assert!(interp.1 < 1_000_000 - u64::try_from(arg).unwrap());
        assert_eq!(jit, interp, "{name}({arg}): (trap, fuel left, host)");
    }
}

#[test]
fn out_of_fuel_in_a_deep_callee_suspends_and_resumes_to_the_interpreters_result() {
    // Run `fib` and `mix` in small slices: the fuel runs out in callees at every depth (the
    // check at function entry), and every resume continues with the register reloaded.
    for (name, arg) in [("fib", 18), ("mix", 200)] {
        let (expected, _, _) = run_fuel_calls(Strategy::Interpreter, name, arg, u64::MAX);
        let (mut store, inst) = fuel_calls(Strategy::Jit);
        let f = inst.get_func(&store, name).unwrap();
        let slice = 97;
        store.set_fuel(slice).unwrap();
        let mut results = [Val::I32(0)];
        let mut call = f
            .call_resumable(&mut store, &[Val::I32(arg)], &mut results)
            .unwrap();
        let mut suspensions = 0u32;
        while let ResumableCall::OutOfFuel(inv) = call {
            suspensions += 1;
            assert!(suspensions < 1_000_000, "{name}: no progress");
            store.set_fuel(slice).unwrap();
            call = inv.resume(&mut store, &[], &mut results).unwrap();
        }
        assert!(matches!(call, ResumableCall::Finished));
        assert!(suspensions > 20, "{name}: only {suspensions} suspensions");
        if name == "fib" {
            // No host import on this path: the result does not depend on the fuel.
            assert_eq!(Ok(results[0].i32().unwrap()), expected);
        }
        // Whatever a slice ends at, the fuel left is what this slice did not use.
        assert!(store.get_fuel().unwrap() <= slice);
    }
    assert_eq!(stacks_in_use(), 0);
}

/// Paths along which the JIT subtracts fuel late (the counts of blocks whose code cannot
/// observe the fuel wait for the next operator that can): joins reached by `br_if`,
/// `br_table` and both arms of an `if`, the block after a loop, and traps of every kind
/// (memory, `unreachable`, division, `memory.copy` and `memory.fill` out of bounds) at the
/// end of each. `arg` picks the path and the trap.
const FUEL_PATHS: &str = r#"(module
  (memory 1)
  (func (export "paths") (param i32) (result i32) (local i32)
    (block $out
      (local.set 1 (i32.add (local.get 0) (i32.const 1)))
      (br_if $out (i32.eq (local.get 0) (i32.const 1)))
      (local.set 1 (i32.mul (local.get 1) (i32.const 3))))
    (if (i32.and (local.get 0) (i32.const 2))
      (then (local.set 1 (i32.add (local.get 1) (i32.const 5))))
      (else (local.set 1 (i32.sub (local.get 1) (i32.const 7)))))
    (block $a (block $b (block $c
      (br_table $a $b $c (i32.and (local.get 0) (i32.const 3))))
      (local.set 1 (i32.add (local.get 1) (i32.const 11))))
      (local.set 1 (i32.xor (local.get 1) (i32.const 13))))
    (loop $l
      (local.set 1 (i32.add (local.get 1) (i32.const 1)))
      (br_if $l (i32.and (local.get 1) (i32.const 3))))
    (if (i32.ge_u (local.get 0) (i32.const 9))
      (then (drop (i32.load (i32.mul (local.get 0) (i32.const 65536))))))
    (if (i32.eq (local.get 0) (i32.const 5)) (then (unreachable)))
    (if (i32.eq (local.get 0) (i32.const 6))
      (then (memory.copy (i32.const 65000) (i32.const 0) (i32.const 1000))))
    (if (i32.eq (local.get 0) (i32.const 7))
      (then (memory.fill (i32.const 10) (i32.const 1) (i32.const 65530))))
    (memory.fill (i32.const 0) (i32.const 9) (i32.and (local.get 1) (i32.const 15)))
    (memory.copy (i32.const 32) (i32.const 0) (i32.const 16))
    (i32.add (i32.load (i32.const 32))
      (i32.div_u (local.get 1) (i32.sub (local.get 0) (i32.const 4)))))
  (func (export "peek") (param i32) (result i32) (i32.load (local.get 0))))"#;

#[test]
fn fuel_charged_late_is_exact_on_every_path_and_at_every_trap() {
    let run = |strategy: Strategy, arg: i32| {
        let engine = engine(strategy);
        let module = Module::new(&engine, wat::parse_str(FUEL_PATHS).unwrap()).unwrap();
        let mut store = Store::new(&engine, ());
        let inst = Linker::new(&engine)
            .instantiate(&mut store, &module)
            .unwrap();
        let f = inst.get_typed_func::<i32, i32>(&store, "paths").unwrap();
        let peek = inst.get_typed_func::<i32, i32>(&store, "peek").unwrap();
        store.set_fuel(1_000_000).unwrap();
        let r = f.call(&mut store, arg).map_err(|e| e.trap_code());
        let left = store.get_fuel().unwrap();
        store.set_fuel(1_000_000).unwrap();
        // What a trapping copy or fill left in memory (nothing, if it trapped).
        let memory = [0, 32, 64996, 65532].map(|a| peek.call(&mut store, a).unwrap());
        (r, left, memory)
    };
    let mut traps = Vec::new();
    for arg in 0..12 {
        let interp = run(Strategy::Interpreter, arg);
        let jit = run(Strategy::Jit, arg);
        assert_eq!(jit, interp, "paths({arg}): (result, fuel left, memory)");
        traps.extend(interp.0.err());
    }
    use crate::TrapCode as T;
    for code in [
        T::MemoryOutOfBounds,
        T::Unreachable,
        T::IntegerDivisionByZero,
    ] {
        assert!(traps.contains(&Some(code)), "no path traps {code:?}");
    }
    // The copy and the fill out of bounds wrote nothing.
    assert_eq!(run(Strategy::Jit, 6).2, [0; 4]);
    assert_eq!(run(Strategy::Jit, 7).2, [0; 4]);
}
