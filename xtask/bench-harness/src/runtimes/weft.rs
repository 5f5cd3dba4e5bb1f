//! weft's engine (`weft-engine`) on each of its tiers: the interpreter with the default
//! `Config` (no fuel), the JIT without fuel, the JIT with fuel on as the kernel runs it, and
//! `Strategy::Auto` (no fuel) with a code cache in `target/bench-jit-cache`.

use super::{RunFn, Runtime, err, timed};
use crate::guests::host_mix;
use anyhow::{Result, bail};
use std::time::{Duration, Instant};
use weft_engine::{Config, Engine, Instance, Linker, Module, Store, Strategy};

/// The fuel a metered store starts with: more than any workload burns, so the meter is
/// counted and checked but never runs out.
const FUEL: u64 = 1 << 62;

/// weft's engine with one configuration.
pub struct Weft {
    name: &'static str,
    engine: Engine,
    fuel: bool,
}

impl Weft {
    /// The interpreter with the default configuration.
    pub fn interpreter() -> Weft {
        let mut config = Config::default();
        config
            .strategy(Strategy::Interpreter)
            .expect("the interpreter runs everywhere");
        Weft {
            name: "weft",
            engine: Engine::new(&config),
            fuel: false,
        }
    }

    /// The JIT, with fuel metering on (as the kernel runs processes) or off.
    pub fn jit(fuel: bool) -> Result<Weft> {
        if !Strategy::jit_available() {
            bail!("weft's JIT is not available on this host");
        }
        let mut config = Config::default();
        config.strategy(Strategy::Jit).map_err(err)?;
        config.consume_fuel(fuel);
        Ok(Weft {
            name: if fuel { "weft-jit-fuel" } else { "weft-jit" },
            engine: Engine::new(&config),
            fuel,
        })
    }

    /// `Strategy::Auto` without fuel, its code cache kept between runs of the harness in
    /// `target/bench-jit-cache` (so after the first run it is warm). `run` is timed once the
    /// module's JIT code is there: the steady state; `translate` includes the cache lookup.
    pub fn auto() -> Result<Weft> {
        if !Strategy::jit_available() {
            bail!("weft's JIT is not available on this host");
        }
        let dir = crate::guests::repo_root().join("target/bench-jit-cache");
        let mut config = Config::default();
        config
            .strategy(Strategy::Auto)
            .map_err(err)?
            .code_cache(Some(std::sync::Arc::new(weft_engine::DirCodeCache::new(
                dir,
            ))));
        Ok(Weft {
            name: "weft-auto",
            engine: Engine::new(&config),
            fuel: false,
        })
    }

    fn store(&self) -> Result<Store<()>> {
        let mut store = Store::new(&self.engine, ());
        if self.fuel {
            store.set_fuel(FUEL).map_err(err)?;
        }
        Ok(store)
    }

    fn linker(&self) -> Result<Linker<()>> {
        let mut linker = Linker::new(&self.engine);
        linker
            .func_wrap("env", "host_mix", |x: i32| -> i32 { host_mix(x) })
            .map_err(err)?;
        Ok(linker)
    }

    /// `wasm` translated and instantiated, with the host function, in a new store.
    fn instance(&self, wasm: &[u8]) -> Result<(Store<()>, Instance)> {
        let module = Module::new(&self.engine, wasm).map_err(err)?;
        // Auto: the steady state, on the JIT code (at once with a warm cache).
        module.wait_for_jit();
        let mut store = self.store()?;
        let instance = self
            .linker()?
            .instantiate(&mut store, &module)
            .map_err(err)?;
        Ok((store, instance))
    }
}

impl Runtime for Weft {
    fn name(&self) -> &'static str {
        self.name
    }

    fn translate(&self, wasm: &[u8]) -> Result<Option<Duration>> {
        let start = Instant::now();
        let module = Module::new(&self.engine, wasm).map_err(err)?;
        let elapsed = start.elapsed();
        drop(module);
        Ok(Some(elapsed))
    }

    fn instantiate(&self, wasm: &[u8], times: usize) -> Result<Vec<Duration>> {
        let module = Module::new(&self.engine, wasm).map_err(err)?;
        let linker = self.linker()?;
        timed(times, || {
            let mut store = self.store()?;
            linker.instantiate(&mut store, &module).map_err(err)?;
            Ok(store)
        })
    }

    fn with_run(
        &self,
        wasm: &[u8],
        _imports_host: bool,
        body: &mut dyn FnMut(RunFn<'_>) -> Result<()>,
    ) -> Result<()> {
        let (mut store, instance) = self.instance(wasm)?;
        let run = instance
            .get_typed_func::<u32, u64>(&store, "run")
            .map_err(err)?;
        body(&mut |n| run.call(&mut store, n).map_err(err))
    }

    fn call_nop(&self, wasm: &[u8], calls: u64, reps: usize) -> Result<Vec<Duration>> {
        let (mut store, instance) = self.instance(wasm)?;
        let nop = instance
            .get_typed_func::<(), ()>(&store, "nop")
            .map_err(err)?;
        timed(reps, || {
            for _ in 0..calls {
                nop.call(&mut store, ()).map_err(err)?;
            }
            Ok(())
        })
    }
}
