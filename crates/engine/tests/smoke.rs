use weft_engine::*;

#[test]
fn fib() {
    let engine = Engine::default();
    let wasm = wat::parse_str(
        r#"(module (func $fib (export "fib") (param i64) (result i64)
            (if (result i64) (i64.lt_u (local.get 0) (i64.const 2))
              (then (local.get 0))
              (else (i64.add (call $fib (i64.sub (local.get 0) (i64.const 1)))
                             (call $fib (i64.sub (local.get 0) (i64.const 2))))))))"#,
    )
    .unwrap();
    let module = Module::new(&engine, &wasm).unwrap();
    let mut store = Store::new(&engine, ());
    let linker = Linker::new(&engine);
    let inst = linker.instantiate(&mut store, &module).unwrap();
    let fib = inst.get_typed_func::<i64, i64>(&store, "fib").unwrap();
    assert_eq!(fib.call(&mut store, 20).unwrap(), 6765);
}
