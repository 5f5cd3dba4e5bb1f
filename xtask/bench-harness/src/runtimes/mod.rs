//! The Wasm runtimes under comparison, behind one small trait so that the harness treats
//! them alike. Each instantiates a guest with `env.host_mix` provided and hands out its
//! `run` export; the timed part is only the call of `run`.

mod wasm3;
mod wasm3_compat;
mod wasmi;
mod wasmtime;
mod weft;

use anyhow::Result;
use std::time::{Duration, Instant};

/// The `run` export of an instantiated guest: `run(n) -> checksum`.
pub type RunFn<'a> = &'a mut dyn FnMut(u32) -> Result<u64>;

/// A Wasm runtime the harness can benchmark.
pub trait Runtime {
    /// Its name in the table and the JSON.
    fn name(&self) -> &'static str;

    /// How long translating (compiling) `wasm` into a ready module takes, or `None` if this
    /// runtime does not translate ahead of the first call.
    fn translate(&self, wasm: &[u8]) -> Result<Option<Duration>>;

    /// How long instantiating an already translated `wasm` takes (a fresh store or runtime
    /// plus the instance), once per element of the result (`times` of them).
    fn instantiate(&self, wasm: &[u8], times: usize) -> Result<Vec<Duration>>;

    /// Instantiates `wasm` (linking `env.host_mix` if `imports_host`) and calls `body` with
    /// its `run` export.
    fn with_run(
        &self,
        wasm: &[u8],
        imports_host: bool,
        body: &mut dyn FnMut(RunFn<'_>) -> Result<()>,
    ) -> Result<()>;

    /// Instantiates `wasm` (exporting `nop: [] -> []`) and times `reps` batches of `calls`
    /// calls of `nop` from the host.
    fn call_nop(&self, wasm: &[u8], calls: u64, reps: usize) -> Result<Vec<Duration>>;

    /// How long it takes from `wasm` in memory to the result of its first `run(n)`:
    /// translation (or parsing and loading), instantiation and that call, which is
    /// returned too. Teardown is not timed.
    fn first_result(&self, wasm: &[u8], imports_host: bool, n: u32) -> Result<(Duration, u64)> {
        let start = Instant::now();
        let mut first = None;
        self.with_run(wasm, imports_host, &mut |run| {
            let sum = run(n)?;
            first = Some((start.elapsed(), sum));
            Ok(())
        })?;
        first.ok_or_else(|| anyhow::anyhow!("{} never called run", self.name()))
    }
}

/// Every runtime, in table order.
pub fn all() -> Result<Vec<Box<dyn Runtime>>> {
    Ok(vec![
        Box::new(weft::Weft::interpreter()),
        Box::new(weft::Weft::jit(false)?),
        Box::new(weft::Weft::jit(true)?),
        Box::new(weft::Weft::auto()?),
        Box::new(wasmi::Wasmi::new()),
        Box::new(wasm3::Wasm3),
        Box::new(wasmtime::Wasmtime::new()),
    ])
}

/// Turns an error that is not `Send + Sync` (or not `std::error::Error`) into an
/// `anyhow::Error` by its message.
fn err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// Runs `f` `times` times and returns how long each run took. What `f` returns (a store, a
/// runtime) is dropped after the clock stops, so teardown is not timed.
fn timed<R>(times: usize, mut f: impl FnMut() -> Result<R>) -> Result<Vec<Duration>> {
    (0..times)
        .map(|_| {
            let start = Instant::now();
            let kept = f()?;
            let elapsed = start.elapsed();
            drop(kept);
            Ok(elapsed)
        })
        .collect()
}
