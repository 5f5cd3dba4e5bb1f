//! The Wasm backtrace a trap carries: the frames on the stack when it happened, innermost
//! first, named from the module's name section.

use weft_engine::*;

mod common;

fn module(engine: &Engine, wat: &str) -> Module {
    Module::new(engine, wat::parse_str(wat).expect("valid wat")).expect("valid module")
}

/// The frames of `error`'s backtrace as `(function index, name)`.
fn frames(error: &Error) -> Vec<(u32, Option<String>)> {
    error
        .backtrace()
        .expect("a trap has a backtrace")
        .frames()
        .iter()
        .map(|f| (f.func_index(), f.func_name().map(str::to_string)))
        .collect()
}

const NESTED: &str = r#"(module $prog
  (import "host" "check" (func $check (param i32)))
  (func $inner (param i32) (result i32)
    (call $check (local.get 0))
    (i32.div_u (i32.const 1) (local.get 0)))
  (func $middle (param i32) (result i32) (call $inner (local.get 0)))
  (func (export "run") (param i32) (result i32) (call $middle (local.get 0))))"#;

fn nested_instance(store: &mut Store<()>, engine: &Engine) -> Instance {
    let mut linker = Linker::new(engine);
    linker
        .func_wrap("host", "check", |_: Caller<'_, ()>, x: i32| {
            if x == 7 {
                Err(Error::host("seven is refused"))
            } else {
                Ok(())
            }
        })
        .unwrap();
    linker
        .instantiate(store, &module(engine, NESTED))
        .expect("instantiates")
}

#[test]
fn a_trap_records_its_frames_innermost_first_with_names() {
    let engine = common::engine();
    let mut store = Store::new(&engine, ());
    let instance = nested_instance(&mut store, &engine);
    let run = instance.get_typed_func::<i32, i32>(&store, "run").unwrap();

    let error = run.call(&mut store, 0).unwrap_err();
    assert_eq!(error.trap_code(), Some(TrapCode::IntegerDivisionByZero));
    assert_eq!(
        frames(&error),
        [
            (1, Some("inner".to_string())),
            (2, Some("middle".to_string())),
            (3, None)
        ]
    );
    let backtrace = error.backtrace().unwrap();
    assert_eq!(backtrace.frames()[0].module().name(), Some("prog"));
    assert_eq!(
        backtrace.to_string(),
        "wasm backtrace:\n     0: prog!inner\n     1: prog!middle\n     2: prog!<wasm function 3>"
    );

    // A host function's error ends the call with the frames of its caller.
    let error = run.call(&mut store, 7).unwrap_err();
    assert_eq!(error.trap_code(), Some(TrapCode::Host));
    assert_eq!(frames(&error)[0], (1, Some("inner".to_string())));

    // The store stays usable, and a call that returns has no backtrace to give.
    assert_eq!(run.call(&mut store, 1).unwrap(), 1);
}

#[test]
fn recursion_is_one_line_per_run_of_frames() {
    let mut config = common::config();
    config.max_call_depth(50);
    let engine = Engine::new(&config);
    let mut store = Store::new(&engine, ());
    let instance = Linker::new(&engine)
        .instantiate(
            &mut store,
            &module(
                &engine,
                r#"(module
  (func $down (call $down))
  (func (export "go") (call $down)))"#,
            ),
        )
        .unwrap();
    let go = instance.get_typed_func::<(), ()>(&store, "go").unwrap();
    let error = go.call(&mut store, ()).unwrap_err();
    assert_eq!(error.trap_code(), Some(TrapCode::StackOverflow));
    if common::on_jit() {
        // The JIT's depth is bounded by its fiber's stack, not by `max_call_depth`, and a
        // trap records the trapping frame and at most 256 callers: all of them `down`.
        let frames = frames(&error);
        assert_eq!(frames.len(), 257);
        assert!(frames.iter().all(|f| *f == (0, Some("down".to_string()))));
        return;
    }
    assert_eq!(error.backtrace().unwrap().frames().len(), 50);
    assert_eq!(
        error.backtrace().unwrap().to_string(),
        "wasm backtrace:\n     0: down (49 frames)\n    49: <wasm function 1>"
    );
}

#[test]
fn errors_that_are_not_traps_have_no_backtrace() {
    let engine = common::engine();
    let error = Module::new(&engine, b"\0asm\x01\0\0\0\x01").unwrap_err();
    assert!(error.backtrace().is_none());
}
