//! Arbitrary text as a `.wast` script, run by `weft-wast` as `weft wast --interp FILE`
//! runs it (on a thread with a large stack), but with fuel for all its calls together and
//! small store limits, so that a loop or a huge memory ends with a failed directive instead
//! of running on. On the interpreter: the target is built with AddressSanitizer, which does
//! not follow the JIT's fiber stack switches (it reports them as stack overflows); the
//! JIT is the differential target's, built without a sanitizer.
//!
//! Whatever the text, the runner must report passed and failed directives. A panic, in
//! the runner's own code or in the engine (which the runner catches and reports as a
//! failed directive that `panicked at ...`), an abort or a hang is a failure.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weft_engine::{Config, StoreLimits, Strategy};
use weft_wast::WastRunner;

const LIMITS: StoreLimits = StoreLimits {
    memory_pages: 1024,
    table_elements: 100_000,
    instances: 100,
    objects: 10_000,
    call_depth: 1000,
};
/// Fuel for the whole script.
const FUEL: u64 = 1_000_000;
/// As `weft_wast::run_script`'s thread.
const STACK: usize = 64 << 20;

fuzz_target!(|data: &[u8]| {
    // `weft wast` reads scripts as UTF-8.
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    let report = std::thread::scope(|scope| {
        std::thread::Builder::new()
            .stack_size(STACK)
            .spawn_scoped(scope, || {
                let mut config = Config::default();
                config
                    .strategy(Strategy::Interpreter)
                    .expect("the interpreter runs everywhere");
                config.consume_fuel(true);
                let mut runner = WastRunner::new(&config).expect("the spectest module");
                runner.limit(FUEL, LIMITS).expect("fuel is metered");
                runner.run("fuzz.wast", source)
            })
            .expect("a thread for the script")
            .join()
            .expect("the runner returns")
    });
    for failure in &report.failures {
        // A directive's failure reads `fuzz.wast:LINE:COL: MESSAGE`, where MESSAGE starts
        // with the runner's words (never the script's); a caught panic's with `panicked
        // at`. (A script that does not parse fails with `failed to parse script: ...`.)
        let Some(rest) = failure.strip_prefix("fuzz.wast:") else {
            continue;
        };
        let message = rest.splitn(3, ':').nth(2).unwrap_or("").trim_start();
        assert!(!message.starts_with("panicked at"), "{failure}");
    }
});
