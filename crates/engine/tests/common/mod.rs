//! What every API test shares: the engine's tier comes from `WEFT_STRATEGY` (`jit` or
//! `interp`, default the interpreter), so one test suite runs on both tiers:
//! `WEFT_STRATEGY=jit cargo test -p weft-engine --features jit`.
#![allow(dead_code, reason = "each test file uses a part of this")]

use weft_engine::{Config, Engine, Strategy};

/// The tier the tests run on.
pub fn strategy() -> Strategy {
    match std::env::var("WEFT_STRATEGY").as_deref() {
        Ok("jit") => Strategy::Jit,
        Ok("interp") | Ok("interpreter") | Ok("") | Err(_) => Strategy::Interpreter,
        Ok(other) => panic!("WEFT_STRATEGY={other}: expected `jit` or `interp`"),
    }
}

/// Whether the tests run on the JIT.
pub fn on_jit() -> bool {
    strategy() == Strategy::Jit
}

/// A default configuration on the tested tier.
pub fn config() -> Config {
    let mut config = Config::new();
    config
        .strategy(strategy())
        .expect("WEFT_STRATEGY=jit needs the `jit` feature on a supported host");
    config
}

/// A default engine on the tested tier.
pub fn engine() -> Engine {
    Engine::new(&config())
}
