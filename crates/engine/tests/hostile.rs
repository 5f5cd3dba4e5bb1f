//! Hostile input: mutated modules must be rejected with an error or run to a result or a
//! trap, never panic or hang. Deterministic (a fixed xorshift seed), so a failure reproduces.

use weft_engine::*;

const SEEDS: &[&str] = &[
    r#"(module
      (memory (export "m") 1 2)
      (table 4 funcref)
      (global $g (mut i32) (i32.const 7))
      (elem (i32.const 0) $f $g2)
      (data (i32.const 8) "weft")
      (func $f (export "f") (param i32 i64) (result i64)
        (local f32 f64)
        (block (result i64)
          (loop
            (br_if 1 (i64.extend_i32_u (local.get 0)) (i32.eqz (local.get 0)))
            (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
            (global.set $g (i32.add (global.get $g) (i32.load8_u (local.get 0))))
            (br 0))
          (i64.const 0)))
      (func $g2 (export "g") (param i32) (result i32)
        (call_indirect (param i32 i64) (result i64) (local.get 0) (i64.const 1) (i32.const 0))
        (i32.wrap_i64)
        (memory.grow (i32.const 1))
        (i32.add)
        (table.size 0)
        (br_table 0 0 (i32.const 1))))"#,
    r#"(module
      (func $fib (export "fib") (param i32) (result i32)
        (if (result i32) (i32.lt_u (local.get 0) (i32.const 2))
          (then (local.get 0))
          (else (i32.add (call $fib (i32.sub (local.get 0) (i32.const 1)))
                         (call $fib (i32.sub (local.get 0) (i32.const 2)))))))
      (func (export "multi") (param i32) (result i32 i32 f64)
        (local.get 0) (i32.const 3) (f64.const 1.5)
        (block (param i32 i32 f64) (result i32 i32 f64))))"#,
];

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn exercise(engine: &Engine, bytes: &[u8]) {
    let Ok(module) = Module::new(engine, bytes) else {
        return;
    };
    let mut store = Store::new(engine, ());
    store.limiter(StoreLimits {
        memory_pages: 16,
        table_elements: 1000,
        ..StoreLimits::default()
    });
    let Ok(instance) = Linker::new(engine).instantiate(&mut store, &module) else {
        return;
    };
    let funcs: Vec<Func> = instance
        .exports(&store)
        .filter_map(|e| e.into_extern().into_func())
        .collect();
    for func in funcs {
        let ty = func.ty(&store).unwrap();
        let params: Vec<Val> = ty.params().iter().map(|&t| Val::default_for(t)).collect();
        let mut results: Vec<Val> = ty.results().iter().map(|&t| Val::default_for(t)).collect();
        store.set_fuel(100_000).unwrap();
        // Any outcome but a panic or a hang is fine.
        let _ = func.call(&mut store, &params, &mut results);
    }
}

#[test]
fn mutated_modules_never_panic() {
    let mut config = Config::new();
    config.consume_fuel(true).max_call_depth(1000);
    let engine = Engine::new(&config);
    let mut rng = XorShift(0x5eed_f00d_cafe_beef);
    let mut compiled = 0;
    for seed in SEEDS {
        let original = wat::parse_str(seed).unwrap();
        exercise(&engine, &original);
        for _ in 0..3000 {
            let mut bytes = original.clone();
            for _ in 0..1 + rng.next() % 4 {
                let i = (rng.next() % bytes.len() as u64) as usize;
                match rng.next() % 3 {
                    0 => bytes[i] = rng.next() as u8,
                    1 => bytes[i] ^= 1 << (rng.next() % 8),
                    _ => {
                        bytes.truncate(i.max(8));
                    }
                }
            }
            if Module::new(&engine, &bytes).is_ok() {
                compiled += 1;
            }
            exercise(&engine, &bytes);
        }
    }
    // The mutations must exercise execution too, not only the parser's rejections.
    assert!(compiled > 100, "only {compiled} mutants compiled");
}
