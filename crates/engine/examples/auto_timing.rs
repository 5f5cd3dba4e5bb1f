//! Times `Strategy::Auto` against the interpreter and the JIT: how long until a module's
//! first call returns (translate + instantiate + the call), and how fast the call runs once
//! the JIT code is there, with a cold and a warm code cache.
//!
//! `cargo run --release -p weft-engine --features jit --example auto_timing -- [FILE.wasm N]`
//!
//! FILE must export `run(i32) -> i64`-like `run: [i32] -> [i64]` (the bench guests'
//! `run(u32) -> u64`) and may import `env.host_mix: [i32] -> [i32]`. Without arguments a
//! synthetic module of about 6 MiB of code is generated, whose `run` is a hot loop.

use std::time::{Duration, Instant};

use weft_engine::{Config, DirCodeCache, Engine, Linker, Module, Store, Strategy};

fn synthetic(funcs: usize) -> Vec<u8> {
    let mut wat = String::from("(module (memory 1)\n");
    // Cold code: many mid-sized functions that are never called.
    for i in 0..funcs {
        wat.push_str(&format!(
            "(func $f{i} (param i32) (result i32) (local i32)\n"
        ));
        for j in 0..40 {
            wat.push_str(&format!(
                "(local.set 1 (i32.add (i32.mul (local.get 0) (i32.const {})) (i32.load offset={} (i32.const 0))))\n\
                 (i32.store offset={} (i32.const 0) (i32.xor (local.get 1) (i32.const {})))\n",
                i * 7 + j,
                (j % 16) * 4,
                ((j + 3) % 16) * 4,
                i ^ j
            ));
        }
        wat.push_str("(local.get 1))\n");
    }
    // The hot path: a loop calling a small function.
    wat.push_str(
        r#"(func $mix (param i32) (result i32)
             (i32.xor (i32.mul (local.get 0) (i32.const 0x9e3779b1)) (i32.shr_u (local.get 0) (i32.const 15))))
           (func (export "run") (param $n i32) (result i64)
             (local $acc i64) (local $x i32)
             (local.set $x (i32.const 1))
             (block $done (loop $next
               (br_if $done (i32.eqz (local.get $n)))
               (local.set $x (call $mix (i32.add (local.get $x) (local.get $n))))
               (local.set $acc (i64.add (local.get $acc) (i64.extend_i32_u (local.get $x))))
               (local.set $n (i32.sub (local.get $n) (i32.const 1)))
               (br $next)))
             (local.get $acc)))"#,
    );
    wat::parse_str(&wat).expect("the generated module is valid")
}

struct Timing {
    new: Duration,
    first: Duration,
    ready: Duration,
    steady: Duration,
    result: u64,
}

fn time(engine: &Engine, wasm: &[u8], n: u32) -> Timing {
    let start = Instant::now();
    let module = Module::new(engine, wasm).expect("module");
    let new = start.elapsed();
    let mut store = Store::new(engine, ());
    let mut linker = Linker::new(engine);
    linker
        .func_wrap("env", "host_mix", |x: i32| -> i32 {
            x.rotate_left(5) ^ 0x5bd1_e995
        })
        .expect("host function");
    let instance = linker.instantiate(&mut store, &module).expect("instance");
    let run = instance
        .get_typed_func::<u32, u64>(&store, "run")
        .expect("run: [i32] -> [i64]");
    // The first result: a short call, as a program's first output comes early.
    run.call(&mut store, 1).expect("first call");
    let first = start.elapsed();

    module.wait_for_jit();
    let ready = start.elapsed();
    let result = run.call(&mut store, n).expect("call");
    let mut steady = Duration::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        assert_eq!(run.call(&mut store, n).expect("call"), result);
        steady = steady.min(t.elapsed());
    }
    Timing {
        new,
        first,
        ready,
        steady,
        result,
    }
}

fn engine(strategy: Strategy, cache: Option<&std::path::Path>) -> Engine {
    let mut config = Config::new();
    config.strategy(strategy).expect("strategy");
    if let Some(dir) = cache {
        config.code_cache(Some(std::sync::Arc::new(DirCodeCache::new(dir))));
    }
    Engine::new(&config)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (wasm, n) = match args.as_slice() {
        [file, n] => (
            std::fs::read(file).expect("reading the module"),
            n.parse().expect("N"),
        ),
        _ => (synthetic(2500), 20_000_000),
    };
    println!("module: {} bytes, run({n})", wasm.len());
    let dir = std::env::temp_dir().join(format!("weft-auto-timing-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let rows = [
        ("interpreter", engine(Strategy::Interpreter, None)),
        ("jit", engine(Strategy::Jit, None)),
        ("auto, cold cache", engine(Strategy::Auto, Some(&dir))),
        ("auto, warm cache", engine(Strategy::Auto, Some(&dir))),
    ];
    println!(
        "{:<18} {:>14} {:>14} {:>14} {:>14}",
        "", "Module::new", "first result", "JIT ready", "steady call"
    );
    for (name, engine) in &rows {
        let t = time(engine, &wasm, n);
        println!(
            "{name:<18} {:>11.1} ms {:>11.1} ms {:>11.1} ms {:>11.1} ms   (= {})",
            t.new.as_secs_f64() * 1e3,
            t.first.as_secs_f64() * 1e3,
            t.ready.as_secs_f64() * 1e3,
            t.steady.as_secs_f64() * 1e3,
            t.result
        );
        if name.contains("cold") {
            // Let the background thread write the entry before the warm row reads it.
            for _ in 0..1000 {
                if std::fs::read_dir(&dir).is_ok_and(|d| {
                    d.filter_map(|e| e.ok())
                        .any(|e| !e.file_name().to_string_lossy().starts_with('.'))
                }) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
