//! Differential: a wasm-smith module with every feature weft supports runs on both of weft's
//! tiers (the interpreter and the Cranelift JIT) and on wasmi, the reference. Every exported
//! function is called in turn with zero arguments; all three must agree on each call's
//! results or on whether it trapped (weft's two tiers also on the trap code), and after each
//! call on every exported global and memory. (`crates/engine/tests/differential.rs` runs a
//! fixed set of such modules on weft's two tiers in every test run, fuel included.)
//!
//! wasm-smith makes the module terminate (a fuel counter in a global), so no engine fuel is
//! needed. A call that overflows either engine's stack ends the comparison of that module:
//! the engines' depth limits differ, and so may the point where they stop.
#![no_main]

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

#[path = "../../crates/engine/tests/smith/mod.rs"]
mod smith;

fn module(u: &mut Unstructured<'_>) -> Result<Vec<u8>> {
    let config = smith::smith_config();
    let mut module = wasm_smith::Module::new(config, u)?;
    module.ensure_termination(10_000).unwrap();
    Ok(module.to_bytes())
}

/// A value as both engines can be compared on: numbers by their bits, references by
/// whether they are null.
#[derive(Debug, PartialEq, Eq)]
enum Value {
    Num(u64),
    Ref(bool),
}

fn from_weft(v: &weft_engine::Val) -> Value {
    use weft_engine::Val;
    match *v {
        Val::I32(x) => Value::Num(u64::from(x as u32)),
        Val::I64(x) => Value::Num(x as u64),
        Val::F32(x) => Value::Num(u64::from(x)),
        Val::F64(x) => Value::Num(x),
        Val::FuncRef(r) => Value::Ref(r.is_none()),
        Val::ExternRef(r) => Value::Ref(r.is_none()),
    }
}

fn from_wasmi(v: &wasmi::Val) -> Value {
    use wasmi::Val;
    match v {
        Val::I32(x) => Value::Num(u64::from(*x as u32)),
        Val::I64(x) => Value::Num(*x as u64),
        Val::F32(x) => Value::Num(u64::from(x.to_bits())),
        Val::F64(x) => Value::Num(x.to_bits()),
        Val::FuncRef(r) => Value::Ref(r.is_null()),
        Val::ExternRef(r) => Value::Ref(r.is_null()),
        Val::V128(_) => unreachable!("SIMD is disabled"),
    }
}

/// One of weft's tiers with the module instantiated.
struct Weft {
    tier: weft_engine::Strategy,
    store: weft_engine::Store<()>,
    instance: weft_engine::Instance,
}

impl Weft {
    /// The module instantiated on `tier`, or the instantiation's error (a valid module that
    /// weft refuses is a failure of the target).
    fn new(
        tier: weft_engine::Strategy,
        bytes: &[u8],
    ) -> core::result::Result<Weft, weft_engine::Error> {
        let mut config = weft_engine::Config::new();
        config.strategy(tier).expect("the JIT is available");
        let engine = weft_engine::Engine::new(&config);
        let module = weft_engine::Module::new(&engine, bytes)
            .unwrap_or_else(|e| panic!("weft ({tier:?}) refused a valid module: {e}"));
        let mut store = weft_engine::Store::new(&engine, ());
        let instance = weft_engine::Linker::new(&engine).instantiate(&mut store, &module)?;
        Ok(Weft {
            tier,
            store,
            instance,
        })
    }

    fn call(
        &mut self,
        name: &str,
        ty: &weft_engine::FuncType,
    ) -> core::result::Result<Vec<Value>, weft_engine::Error> {
        let func = self.instance.get_func(&self.store, name).unwrap();
        let params: Vec<_> = ty
            .params()
            .iter()
            .map(|&t| weft_engine::Val::default_for(t))
            .collect();
        let mut results: Vec<_> = ty
            .results()
            .iter()
            .map(|&t| weft_engine::Val::default_for(t))
            .collect();
        func.call(&mut self.store, &params, &mut results)?;
        Ok(results.iter().map(from_weft).collect())
    }

    fn global(&self, name: &str) -> Value {
        let global = self.instance.get_global(&self.store, name).unwrap();
        from_weft(&global.get(&self.store).unwrap())
    }

    fn memory(&self, name: &str) -> &[u8] {
        let memory = self.instance.get_memory(&self.store, name).unwrap();
        memory.data(&self.store).unwrap()
    }
}

fn weft_overflowed(outcome: &core::result::Result<Vec<Value>, weft_engine::Error>) -> bool {
    outcome
        .as_ref()
        .err()
        .and_then(|e| e.trap_code())
        .is_some_and(|c| c == weft_engine::TrapCode::StackOverflow)
}

fuzz_target!(|data: &[u8]| {
    let Ok(bytes) = module(&mut Unstructured::new(data)) else {
        return;
    };

    let tiers = [
        weft_engine::Strategy::Interpreter,
        weft_engine::Strategy::Jit,
    ];
    let wefts: Vec<_> = tiers.iter().map(|&t| Weft::new(t, &bytes)).collect();

    let r_engine = wasmi::Engine::default();
    let r_module = wasmi::Module::new(&r_engine, &bytes[..]).expect("wasmi takes the module");
    let mut r_store = wasmi::Store::new(&r_engine, ());
    let r_instance =
        wasmi::Linker::<()>::new(&r_engine).instantiate_and_start(&mut r_store, &r_module);

    let overflow =
        |e: &weft_engine::Error| e.trap_code() == Some(weft_engine::TrapCode::StackOverflow);
    let r_instance = match r_instance {
        Ok(r) if wefts.iter().all(Result::is_ok) => r,
        Err(_) if wefts.iter().all(Result::is_err) => return,
        // The tiers bound the depth of a start function's recursion differently.
        _ if wefts.iter().any(|w| w.as_ref().err().is_some_and(overflow)) => return,
        r => panic!(
            "instantiation differs: weft {:?}, wasmi {:?}",
            wefts
                .iter()
                .map(|w| w.as_ref().map(|_| ()))
                .collect::<Vec<_>>(),
            r.map(|_| ())
        ),
    };
    let mut wefts: Vec<Weft> = wefts.into_iter().map(|w| w.unwrap()).collect();

    // Only to list the exports: the interpreter translates fastest.
    let mut listing = weft_engine::Config::new();
    listing
        .strategy(weft_engine::Strategy::Interpreter)
        .expect("the interpreter runs everywhere");
    let exports: Vec<(String, weft_engine::ExternType)> =
        weft_engine::Module::new(&weft_engine::Engine::new(&listing), &bytes)
            .unwrap()
            .exports()
            .map(|e| (e.name().to_string(), e.ty()))
            .collect();
    for (name, ty) in &exports {
        let weft_engine::ExternType::Func(fty) = ty else {
            continue;
        };
        let w_outcomes: Vec<_> = wefts.iter_mut().map(|w| w.call(name, fty)).collect();

        let r_func = r_instance.get_func(&r_store, name).unwrap();
        let r_ty = r_func.ty(&r_store);
        let r_params: Vec<_> = r_ty
            .params()
            .iter()
            .map(|&t| wasmi::Val::default_for_ty(t))
            .collect();
        let mut r_results: Vec<_> = r_ty
            .results()
            .iter()
            .map(|&t| wasmi::Val::default_for_ty(t))
            .collect();
        let r_outcome = r_func.call(&mut r_store, &r_params, &mut r_results);

        let r_overflow = r_outcome
            .as_ref()
            .err()
            .and_then(|e| e.as_trap_code())
            .is_some_and(|c| c == wasmi::TrapCode::StackOverflow);
        // The engines' depth limits differ, and so may the point where they stop: the
        // comparison of this module ends there.
        if r_overflow || w_outcomes.iter().any(weft_overflowed) {
            return;
        }
        for (w, outcome) in wefts.iter().zip(&w_outcomes) {
            let tier = w.tier;
            match (outcome, &r_outcome) {
                (Ok(w), Ok(())) => {
                    let r: Vec<_> = r_results.iter().map(from_wasmi).collect();
                    assert_eq!(*w, r, "results of {name} differ ({tier:?} vs wasmi)");
                }
                (Err(w), Err(_)) => {
                    assert!(
                        w.is_trap(),
                        "weft ({tier:?}) failed {name} without a trap: {w}"
                    );
                }
                (w, r) => panic!("{name}: weft ({tier:?}) {w:?}, wasmi {r:?}"),
            }
        }
        if let [Err(a), Err(b)] = &w_outcomes[..] {
            assert_eq!(
                a.trap_code(),
                b.trap_code(),
                "{name} trapped differently on weft's tiers: {a} / {b}"
            );
        }

        for (name, ty) in &exports {
            match ty {
                weft_engine::ExternType::Global(_) => {
                    let r = r_instance.get_global(&r_store, name).unwrap().get(&r_store);
                    for w in &wefts {
                        assert_eq!(
                            w.global(name),
                            from_wasmi(&r),
                            "global {name} differs ({:?} vs wasmi)",
                            w.tier
                        );
                    }
                }
                weft_engine::ExternType::Memory(_) => {
                    let r = r_instance.get_memory(&r_store, name).unwrap();
                    for w in &wefts {
                        assert!(
                            w.memory(name) == r.data(&r_store),
                            "memory {name} differs ({:?} vs wasmi)",
                            w.tier
                        );
                    }
                }
                _ => {}
            }
        }
    }
});
