//! wasm3, the C interpreter (through the `wasm3` crate). It compiles each function lazily on
//! its first call, so it reports no translation time, and its "instantiation" is a fresh
//! runtime plus parsing and loading the module. It runs the guests lowered by
//! [`super::wasm3_compat`], since its Wasm support predates what current Rust emits.

use super::wasm3_compat::lower;
use super::{RunFn, Runtime, err, timed};
use crate::guests::host_mix;
use ::wasm3::{Environment, Module};
use anyhow::Result;
use std::time::{Duration, Instant};

/// Bytes of wasm3's value and call stack per runtime.
const STACK: u32 = 1 << 20;

/// The wasm3 runtime.
pub struct Wasm3;

impl Runtime for Wasm3 {
    fn name(&self) -> &'static str {
        "wasm3"
    }

    fn translate(&self, _wasm: &[u8]) -> Result<Option<Duration>> {
        Ok(None)
    }

    fn instantiate(&self, wasm: &[u8], times: usize) -> Result<Vec<Duration>> {
        let wasm = &lower(wasm)?;
        let env = Environment::new().map_err(err)?;
        timed(times, || {
            let runtime = env.create_runtime(STACK).map_err(err)?;
            let module = Module::parse(&env, &wasm[..]).map_err(err)?;
            runtime.load_module(module).map_err(err)?;
            Ok(runtime)
        })
    }

    fn with_run(
        &self,
        wasm: &[u8],
        imports_host: bool,
        body: &mut dyn FnMut(RunFn<'_>) -> Result<()>,
    ) -> Result<()> {
        with_lowered_run(&lower(wasm)?, imports_host, body)
    }

    /// The lowering is the harness's workaround, not wasm3's work: it is done before the
    /// clock starts.
    fn first_result(&self, wasm: &[u8], imports_host: bool, n: u32) -> Result<(Duration, u64)> {
        let wasm = &lower(wasm)?;
        let start = Instant::now();
        let mut first = None;
        with_lowered_run(wasm, imports_host, &mut |run| {
            let sum = run(n)?;
            first = Some((start.elapsed(), sum));
            Ok(())
        })?;
        first.ok_or_else(|| anyhow::anyhow!("wasm3 never called run"))
    }

    fn call_nop(&self, wasm: &[u8], calls: u64, reps: usize) -> Result<Vec<Duration>> {
        let wasm = &lower(wasm)?;
        let env = Environment::new().map_err(err)?;
        let runtime = env.create_runtime(STACK).map_err(err)?;
        let module = runtime
            .load_module(Module::parse(&env, &wasm[..]).map_err(err)?)
            .map_err(err)?;
        let nop = module.find_function::<(), ()>("nop").map_err(err)?;
        timed(reps, || {
            for _ in 0..calls {
                nop.call().map_err(err)?;
            }
            Ok(())
        })
    }
}

/// [`Runtime::with_run`] of a module already lowered by [`lower`].
fn with_lowered_run(
    wasm: &[u8],
    imports_host: bool,
    body: &mut dyn FnMut(RunFn<'_>) -> Result<()>,
) -> Result<()> {
    let env = Environment::new().map_err(err)?;
    let runtime = env.create_runtime(STACK).map_err(err)?;
    let mut module = runtime
        .load_module(Module::parse(&env, wasm).map_err(err)?)
        .map_err(err)?;
    if imports_host {
        module
            .link_closure("env", "host_mix", |_ctx, x: i32| Ok(host_mix(x)))
            .map_err(err)?;
    }
    let run = module.find_function::<u32, u64>("run").map_err(err)?;
    body(&mut |n| run.call(n).map_err(err))
}
