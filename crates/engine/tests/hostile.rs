//! Hostile input: mutated modules must be rejected with an error or run to a result or a
//! trap, never panic or hang. Deterministic (a fixed xorshift seed), so a failure reproduces.
//!
//! Each mutant that compiles also runs differentially: once translated with instruction
//! fusion and once without, which must agree on every result and trap.

use weft_engine::*;

mod common;

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
    r#"(module
      (memory 1)
      (func (export "scan") (param $n i32) (result i64) (local $i i32) (local $acc i64)
        (loop $l
          (i64.store (i32.add (i32.const 64) (i32.shl (local.get $i) (i32.const 3)))
                     (i64.extend_i32_u (local.get $i)))
          (local.set $acc (i64.add (local.get $acc)
            (i64.load (i32.add (i32.const 64) (i32.shl (local.get $i) (i32.const 3))))))
          (local.set $acc (select (local.get $acc) (i64.const 7)
            (i64.eqz (i64.and (local.get $acc) (i64.const 1)))))
          (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1)))
                              (i32.and (local.get $n) (i32.const 255)))))
        (if (result i64) (i64.gt_s (local.get $acc) (i64.const 100))
          (then (local.get $acc)) (else (i64.const -1)))))"#,
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

/// Compiles, instantiates and runs every exported function of `bytes`; returns what
/// happened, comparable across engines (references compare by null-ness only).
fn exercise(engine: &Engine, bytes: &[u8]) -> Vec<String> {
    let Ok(module) = Module::new(engine, bytes) else {
        return vec!["compile error".into()];
    };
    let mut store = Store::new(engine, ());
    store.limiter(StoreLimits {
        memory_pages: 16,
        table_elements: 1000,
        ..StoreLimits::default()
    });
    let instance = match Linker::new(engine).instantiate(&mut store, &module) {
        Ok(instance) => instance,
        Err(e) => return vec![format!("instantiation: {:?}", e.trap_code())],
    };
    let funcs: Vec<(String, Func)> = instance
        .exports(&store)
        .filter_map(|e| Some((e.name().to_string(), e.into_extern().into_func()?)))
        .collect();
    let mut outcomes = Vec::new();
    for (name, func) in funcs {
        let ty = func.ty(&store).unwrap();
        let params: Vec<Val> = ty.params().iter().map(|&t| Val::default_for(t)).collect();
        let mut results: Vec<Val> = ty.results().iter().map(|&t| Val::default_for(t)).collect();
        store.set_fuel(100_000).unwrap();
        // Any outcome but a panic or a hang is fine; both translations must agree on it.
        let outcome = match func.call(&mut store, &params, &mut results) {
            Ok(()) => format!(
                "{name}: {:?}",
                results.iter().map(normalize).collect::<Vec<_>>()
            ),
            Err(e) => format!("{name}: {:?}", e.trap_code()),
        };
        outcomes.push(outcome);
    }
    outcomes
}

fn normalize(v: &Val) -> String {
    match v {
        Val::FuncRef(r) => format!("funcref {}", r.is_some()),
        Val::ExternRef(r) => format!("externref {}", r.is_some()),
        other => format!("{other:?}"),
    }
}

fn engine(fuse: bool) -> Engine {
    let mut config = common::config();
    config
        .consume_fuel(true)
        .max_call_depth(1000)
        .fuse_instructions(fuse);
    Engine::new(&config)
}

#[test]
fn mutated_modules_never_panic() {
    let (fused, plain) = (engine(true), engine(false));
    let mut rng = XorShift(0x5eed_f00d_cafe_beef);
    let mut compiled = 0;
    for seed in SEEDS {
        let original = wat::parse_str(seed).unwrap();
        assert_eq!(exercise(&fused, &original), exercise(&plain, &original));
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
            if Module::new(&fused, &bytes).is_ok() {
                compiled += 1;
            }
            assert_eq!(
                exercise(&fused, &bytes),
                exercise(&plain, &bytes),
                "fused and plain translations disagree on mutant {bytes:?}"
            );
        }
    }
    // The mutations must exercise execution too, not only the parser's rejections.
    assert!(compiled > 100, "only {compiled} mutants compiled");
}
