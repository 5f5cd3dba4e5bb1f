//! Differential: a wasm-smith module with every feature weft supports runs on weft and on
//! wasmi, the reference. Every exported function is called in turn with zero arguments;
//! both engines must agree on each call's results or on whether it trapped, and after each
//! call on every exported global and memory.
//!
//! wasm-smith makes the module terminate (a fuel counter in a global), so no engine fuel is
//! needed. A call that overflows either engine's stack ends the comparison of that module:
//! the engines' depth limits differ, and so may the point where they stop.
#![no_main]

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

fn module(u: &mut Unstructured<'_>) -> Result<Vec<u8>> {
    let config = wasm_smith::Config {
        // WebAssembly 2.0 without SIMD, one memory: what weft implements.
        simd_enabled: false,
        relaxed_simd_enabled: false,
        threads_enabled: false,
        shared_everything_threads_enabled: false,
        exceptions_enabled: false,
        tail_call_enabled: false,
        gc_enabled: false,
        memory64_enabled: false,
        extended_const_enabled: false,
        custom_page_sizes_enabled: false,
        wide_arithmetic_enabled: false,
        custom_descriptors_enabled: false,
        multibyte_array_access_enabled: false,
        acquire_release_atomics_enabled: false,
        bulk_memory_enabled: true,
        reference_types_enabled: true,
        multi_value_enabled: true,
        saturating_float_to_int_enabled: true,
        sign_extension_ops_enabled: true,
        max_memories: 1,
        max_memory32_bytes: 16 << 16,
        memory_max_size_required: true,
        max_tables: 4,
        max_table_elements: 1000,
        table_max_size_required: true,
        max_imports: 0,
        min_funcs: 1,
        export_everything: true,
        canonicalize_nans: true,
        ..wasm_smith::Config::default()
    };
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

fuzz_target!(|data: &[u8]| {
    let Ok(bytes) = module(&mut Unstructured::new(data)) else {
        return;
    };

    let w_engine = weft_engine::Engine::default();
    let w_module = weft_engine::Module::new(&w_engine, &bytes)
        .unwrap_or_else(|e| panic!("weft refused a valid module: {e}"));
    let mut w_store = weft_engine::Store::new(&w_engine, ());
    let w_instance = weft_engine::Linker::new(&w_engine).instantiate(&mut w_store, &w_module);

    let r_engine = wasmi::Engine::default();
    let r_module = wasmi::Module::new(&r_engine, &bytes[..]).expect("wasmi takes the module");
    let mut r_store = wasmi::Store::new(&r_engine, ());
    let r_instance =
        wasmi::Linker::<()>::new(&r_engine).instantiate_and_start(&mut r_store, &r_module);

    let (w_instance, r_instance) = match (w_instance, r_instance) {
        (Ok(w), Ok(r)) => (w, r),
        (Err(_), Err(_)) => return,
        (w, r) => panic!(
            "instantiation differs: weft {:?}, wasmi {:?}",
            w.map(|_| ()),
            r.map(|_| ())
        ),
    };

    let exports: Vec<(String, weft_engine::ExternType)> = w_module
        .exports()
        .map(|e| (e.name().to_string(), e.ty()))
        .collect();
    for (name, ty) in &exports {
        let weft_engine::ExternType::Func(fty) = ty else {
            continue;
        };
        let w_func = w_instance.get_func(&w_store, name).unwrap();
        let params: Vec<_> = fty
            .params()
            .iter()
            .map(|&t| weft_engine::Val::default_for(t))
            .collect();
        let mut w_results: Vec<_> = fty
            .results()
            .iter()
            .map(|&t| weft_engine::Val::default_for(t))
            .collect();
        let w_outcome = w_func.call(&mut w_store, &params, &mut w_results);

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

        let w_overflow = w_outcome
            .as_ref()
            .err()
            .and_then(|e| e.trap_code())
            .is_some_and(|c| c == weft_engine::TrapCode::StackOverflow);
        let r_overflow = r_outcome
            .as_ref()
            .err()
            .and_then(|e| e.as_trap_code())
            .is_some_and(|c| c == wasmi::TrapCode::StackOverflow);
        if w_overflow || r_overflow {
            return;
        }
        match (&w_outcome, &r_outcome) {
            (Ok(()), Ok(())) => {
                let w: Vec<_> = w_results.iter().map(from_weft).collect();
                let r: Vec<_> = r_results.iter().map(from_wasmi).collect();
                assert_eq!(w, r, "results of {name} differ");
            }
            (Err(w), Err(r)) => {
                assert!(w.is_trap(), "weft failed {name} without a trap: {w}");
                let _ = r;
            }
            (w, r) => panic!("{name}: weft {w:?}, wasmi {r:?}"),
        }

        for (name, ty) in &exports {
            match ty {
                weft_engine::ExternType::Global(_) => {
                    let w = w_instance
                        .get_global(&w_store, name)
                        .unwrap()
                        .get(&w_store)
                        .unwrap();
                    let r = r_instance.get_global(&r_store, name).unwrap().get(&r_store);
                    assert_eq!(from_weft(&w), from_wasmi(&r), "global {name} differs");
                }
                weft_engine::ExternType::Memory(_) => {
                    let w = w_instance.get_memory(&w_store, name).unwrap();
                    let r = r_instance.get_memory(&r_store, name).unwrap();
                    assert!(
                        w.data(&w_store).unwrap() == r.data(&r_store),
                        "memory {name} differs"
                    );
                }
                _ => {}
            }
        }
    }
});
