//! Times instantiation as the bench harness's "instantiate" row does: a fresh store plus
//! one instance of a module per iteration, the store dropped outside the timed part; prints
//! the median per tier. With `perf record -g` it is also the loop to profile.
//!
//! `cargo run --release -p weft-engine --features jit --example instantiate_timing -- FILE.wasm [N] [TIERS]`
//!
//! FILE may import `env.host_mix: [i32] -> [i32]`. TIERS is a comma-separated list of
//! `interp`, `jit` and `jit-fuel` (default all three); N iterations per tier (default 2000).

use std::time::{Duration, Instant};

use weft_engine::{Config, Engine, Linker, Module, Store, Strategy};

fn engine(tier: &str) -> Engine {
    let mut config = Config::default();
    match tier {
        "interp" => {}
        "jit" | "jit-fuel" => {
            config
                .strategy(Strategy::Jit)
                .expect("the JIT is available");
            config.consume_fuel(tier == "jit-fuel");
        }
        other => panic!("unknown tier `{other}`"),
    }
    Engine::new(&config)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let file = args
        .first()
        .expect("usage: instantiate_timing FILE.wasm [N] [TIERS]");
    let n: usize = args
        .get(1)
        .map_or(2000, |s| s.parse().expect("N is a number"));
    let tiers = args.get(2).map_or("interp,jit,jit-fuel", String::as_str);
    let wasm = std::fs::read(file).expect("FILE is readable");
    for tier in tiers.split(',') {
        let engine = engine(tier);
        let module = Module::new(&engine, &wasm).expect("the module compiles");
        let mut linker = Linker::<()>::new(&engine);
        linker
            .func_wrap("env", "host_mix", |x: i32| -> i32 { x })
            .expect("a fresh linker");
        let mut times: Vec<Duration> = (0..n)
            .map(|_| {
                let start = Instant::now();
                let mut store = Store::new(&engine, ());
                if tier == "jit-fuel" {
                    store.set_fuel(1 << 62).expect("fuel is on");
                }
                linker
                    .instantiate(&mut store, &module)
                    .expect("instantiates");
                let elapsed = start.elapsed();
                drop(store);
                elapsed
            })
            .collect();
        times.sort();
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        println!(
            "{tier:>9}: median {:7.2} µs  (p10 {:.2}, p90 {:.2})",
            us(times[n / 2]),
            us(times[n / 10]),
            us(times[n * 9 / 10])
        );
    }
}
