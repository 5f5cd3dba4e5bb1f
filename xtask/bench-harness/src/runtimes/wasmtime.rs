//! wasmtime with Cranelift: the optimizing JIT, as the reference point for compiled code.
//! Default configuration; the crate is built without parallel compilation, so modules are
//! compiled on one thread like the interpreters translate them.

use super::{RunFn, Runtime, err, timed};
use crate::guests::host_mix;
use ::wasmtime::{Config, Engine, Instance, Linker, Module, Store};
use anyhow::Result;
use std::time::{Duration, Instant};

/// A wasmtime engine (Cranelift).
pub struct Wasmtime {
    engine: Engine,
}

impl Wasmtime {
    /// The default configuration.
    pub fn new() -> Wasmtime {
        let engine = Engine::new(&Config::default()).expect("the default configuration is valid");
        Wasmtime { engine }
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
        let mut store = Store::new(&self.engine, ());
        let instance = self
            .linker()?
            .instantiate(&mut store, &module)
            .map_err(err)?;
        Ok((store, instance))
    }
}

impl Runtime for Wasmtime {
    fn name(&self) -> &'static str {
        "wasmtime"
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
            let mut store = Store::new(&self.engine, ());
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
            .get_typed_func::<u32, u64>(&mut store, "run")
            .map_err(err)?;
        body(&mut |n| run.call(&mut store, n).map_err(err))
    }

    fn call_nop(&self, wasm: &[u8], calls: u64, reps: usize) -> Result<Vec<Duration>> {
        let (mut store, instance) = self.instance(wasm)?;
        let nop = instance
            .get_typed_func::<(), ()>(&mut store, "nop")
            .map_err(err)?;
        timed(reps, || {
            for _ in 0..calls {
                nop.call(&mut store, ()).map_err(err)?;
            }
            Ok(())
        })
    }
}
