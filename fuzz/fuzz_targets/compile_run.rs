//! Arbitrary bytes as a module: translate, instantiate (imports get stand-ins that return
//! zeros), and call every exported function with zero arguments and a fuel budget.
//!
//! Whatever the bytes, the engine must return: a compile, link or instantiation error, a
//! trap, out of fuel, or results. A panic, an abort (a failed allocation included), a hang
//! past the fuel budget or a memory beyond the store's limit is a failure.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weft_engine::*;

/// The store's limits: small enough that a module cannot make the fuzzer run out of memory.
const LIMITS: StoreLimits = StoreLimits {
    memory_pages: 1024,
    table_elements: 100_000,
    instances: 10,
    objects: 1000,
    call_depth: 1000,
};
const FUEL: u64 = 100_000;

fuzz_target!(|data: &[u8]| {
    // The interpreter (the default is `Auto`, which would compile small modules with
    // Cranelift at load): its translation and executor, at the rate the aim of 10^8 runs
    // needs. Generated code is fuzzed by the differential target.
    let mut config = Config::default();
    config
        .strategy(Strategy::Interpreter)
        .expect("the interpreter runs everywhere");
    config.consume_fuel(true);
    let engine = Engine::new(&config);
    let Ok(module) = Module::new(&engine, data) else {
        return;
    };
    let mut store = Store::new(&engine, ());
    store.limiter(LIMITS);
    let mut linker = Linker::new(&engine);
    for import in module.imports() {
        let ext: Extern = match import.ty() {
            ExternType::Func(ty) => {
                let results: Vec<ValType> = ty.results().to_vec();
                Func::new(&mut store, ty, move |_, _, out| {
                    for (o, &t) in out.iter_mut().zip(&results) {
                        *o = Val::default_for(t);
                    }
                    Ok(())
                })
                .into()
            }
            ExternType::Memory(ty) => match Memory::new(&mut store, ty) {
                Ok(m) => m.into(),
                Err(_) => return,
            },
            ExternType::Table(ty) => {
                match Table::new(&mut store, ty, Val::default_for(ty.element())) {
                    Ok(t) => t.into(),
                    Err(_) => return,
                }
            }
            ExternType::Global(ty) => {
                match Global::new(&mut store, ty, Val::default_for(ty.content())) {
                    Ok(g) => g.into(),
                    Err(_) => return,
                }
            }
        };
        let _ = linker.define(&store, import.module(), import.name(), ext);
    }
    let Ok(instance) = linker.instantiate(&mut store, &module) else {
        return;
    };
    let funcs: Vec<(String, FuncType)> = module
        .exports()
        .filter_map(|e| match e.ty() {
            ExternType::Func(ty) => Some((e.name().to_string(), ty)),
            _ => None,
        })
        .collect();
    for (name, ty) in funcs {
        let Some(func) = instance.get_func(&store, &name) else {
            continue;
        };
        let params: Vec<Val> = ty.params().iter().map(|&t| Val::default_for(t)).collect();
        let mut results: Vec<Val> = ty.results().iter().map(|&t| Val::default_for(t)).collect();
        store.set_fuel(FUEL).unwrap();
        let _ = func.call(&mut store, &params, &mut results);
    }
    for export in module.exports() {
        if let Some(memory) = instance.get_memory(&store, export.name()) {
            let pages = memory.size(&store).unwrap();
            assert!(pages <= LIMITS.memory_pages, "a memory of {pages} pages");
        }
    }
});
