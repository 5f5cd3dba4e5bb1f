//! `Strategy::Auto` through the public API: interpreted until the JIT code arrives, then on
//! the JIT; the code cache (round trip, damaged entries, keys); modules and stores at every
//! stage of the switch.
extern crate std;

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use std::sync::Mutex;

use super::auto::AutoState;
use super::cache;
use super::tier::is_jit_func;
use crate::{
    Caller, CodeCache, Config, DirCodeCache, Engine, Error, Func, Linker, Module, ResumableCall,
    Store, Strategy, TrapCode, Val,
};

/// A code cache in memory that counts its writes.
#[derive(Debug, Default)]
struct MemCache {
    entries: Mutex<BTreeMap<String, Vec<u8>>>,
    puts: Mutex<u32>,
}

impl CodeCache for MemCache {
    fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.entries.lock().unwrap().get(key).cloned()
    }
    fn put(&self, key: &str, bytes: &[u8]) {
        *self.puts.lock().unwrap() += 1;
        self.entries
            .lock()
            .unwrap()
            .insert(key.into(), bytes.to_vec());
    }
}

impl MemCache {
    fn puts(&self) -> u32 {
        *self.puts.lock().unwrap()
    }
}

struct Setup {
    engine: Engine,
    gate: Arc<Mutex<()>>,
}

fn auto(fuel: bool, cache: Option<Arc<MemCache>>) -> Setup {
    let gate = Arc::new(Mutex::new(()));
    let mut config = Config::new();
    config
        .strategy(Strategy::Auto)
        .unwrap()
        .consume_fuel(fuel)
        .code_cache(cache.map(|c| c as Arc<dyn CodeCache>))
        // Every module in the background, as a large one would be (the tests hold it there
        // with the gate).
        .auto_compile_at_load(0);
    config.auto_gate = Some(gate.clone());
    Setup {
        engine: Engine::new(&config),
        gate,
    }
}

const FIB: &str = r#"(module
  (func $fib (export "fib") (param i32) (result i32)
    (if (result i32) (i32.lt_u (local.get 0) (i32.const 2))
      (then (local.get 0))
      (else (i32.add (call $fib (i32.sub (local.get 0) (i32.const 1)))
                     (call $fib (i32.sub (local.get 0) (i32.const 2)))))))
  (func (export "div") (param i32 i32) (result i32)
    (i32.div_s (local.get 0) (local.get 1))))"#;

fn fib_instance(engine: &Engine, module: &Module) -> (Store<()>, Func) {
    let mut store = Store::new(engine, ());
    let inst = Linker::new(engine).instantiate(&mut store, module).unwrap();
    let fib = inst.get_func(&store, "fib").unwrap();
    (store, fib)
}

fn call_fib(store: &mut Store<()>, fib: Func, n: i32) -> i32 {
    let mut r = [Val::I32(0)];
    fib.call(&mut *store, &[Val::I32(n)], &mut r).unwrap();
    r[0].i32().unwrap()
}

#[test]
fn an_auto_module_runs_interpreted_until_its_code_arrives_then_on_the_jit() {
    let s = auto(false, None);
    let held = s.gate.lock().unwrap();
    let module = Module::new(&s.engine, wat::parse_str(FIB).unwrap()).unwrap();
    let (mut store, fib) = fib_instance(&s.engine, &module);
    assert_eq!(call_fib(&mut store, fib, 20), 6765);
    assert_eq!(store.auto, AutoState::Pending);
    assert!(!is_jit_func(&store.core, fib.index));
    let typed = fib.typed::<i32, i32>(&store).unwrap();
    assert_eq!(typed.call(&mut store, 10).unwrap(), 55);
    drop(held);
    assert!(module.wait_for_jit());
    assert_eq!(call_fib(&mut store, fib, 20), 6765);
    assert_eq!(store.auto, AutoState::Switched);
    assert!(is_jit_func(&store.core, fib.index));
    assert_eq!(typed.call(&mut store, 21).unwrap(), 10946);
    // A store made after the code arrived switches at its first call.
    let (mut store2, fib2) = fib_instance(&s.engine, &module);
    assert_eq!(call_fib(&mut store2, fib2, 15), 610);
    assert!(is_jit_func(&store2.core, fib2.index));
}

#[test]
fn a_trap_on_the_jit_after_the_switch_has_its_code() {
    let s = auto(false, None);
    let module = Module::new(&s.engine, wat::parse_str(FIB).unwrap()).unwrap();
    assert!(module.wait_for_jit());
    let (mut store, _) = fib_instance(&s.engine, &module);
    let inst = Linker::new(&s.engine)
        .instantiate(&mut store, &module)
        .unwrap();
    let div = inst
        .get_typed_func::<(i32, i32), i32>(&store, "div")
        .unwrap();
    assert_eq!(div.call(&mut store, (7, 2)).unwrap(), 3);
    assert_eq!(store.auto, AutoState::Switched);
    let e = div.call(&mut store, (7, 0)).unwrap_err();
    assert_eq!(e.trap_code(), Some(TrapCode::IntegerDivisionByZero));
    let e = div.call(&mut store, (i32::MIN, -1)).unwrap_err();
    assert_eq!(e.trap_code(), Some(TrapCode::IntegerOverflow));
}

const SUM: &str = r#"(module
  (func (export "sum") (param $n i32) (result i64)
    (local $acc i64)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $acc (i64.add (local.get $acc) (i64.extend_i32_u (local.get $n))))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next)))
    (local.get $acc)))"#;

/// Runs `sum(n)` in fuel slices to the end; the result and the number of suspensions.
fn finish_in_slices(
    store: &mut Store<()>,
    mut call: ResumableCall,
    results: &mut [Val],
    slice: u64,
) -> u32 {
    let mut suspensions = 0;
    while let ResumableCall::OutOfFuel(inv) = call {
        suspensions += 1;
        assert!(suspensions < 1_000_000, "no progress");
        store.set_fuel(slice).unwrap();
        call = inv.resume(&mut *store, &[], results).unwrap();
    }
    assert!(matches!(call, ResumableCall::Finished));
    suspensions
}

#[test]
fn fuel_slices_across_the_switch_give_the_interpreters_result() {
    let n = 20_000;
    let expected = i64::from(n) * i64::from(n + 1) / 2;
    let s = auto(true, None);
    let held = s.gate.lock().unwrap();
    let module = Module::new(&s.engine, wat::parse_str(SUM).unwrap()).unwrap();
    let mut store = Store::new(&s.engine, ());
    let inst = Linker::new(&s.engine)
        .instantiate(&mut store, &module)
        .unwrap();
    let sum = inst.get_func(&store, "sum").unwrap();
    store.set_fuel(500).unwrap();
    let mut results = [Val::I64(0)];
    // Started on the interpreter...
    let call = sum
        .call_resumable(&mut store, &[Val::I32(n)], &mut results)
        .unwrap();
    let ResumableCall::OutOfFuel(inv) = call else {
        panic!("expected to run out of fuel")
    };
    // ... the code arrives and the store switches while the call is suspended ...
    drop(held);
    assert!(module.wait_for_jit());
    let mut r2 = [Val::I64(0)];
    store.set_fuel(u64::MAX).unwrap();
    sum.call(&mut store, &[Val::I32(10)], &mut r2).unwrap();
    assert_eq!(r2[0], Val::I64(55));
    assert_eq!(store.auto, AutoState::Switched);
    // ... and the suspended call resumes where it stopped, on the interpreter.
    store.set_fuel(500).unwrap();
    let call = inv.resume(&mut store, &[], &mut results).unwrap();
    let suspensions = finish_in_slices(&mut store, call, &mut results, 500);
    assert!(suspensions > 10);
    assert_eq!(results[0], Val::I64(expected));
    // A new resumable call runs on the JIT, in slices, to the same result.
    store.set_fuel(500).unwrap();
    let call = sum
        .call_resumable(&mut store, &[Val::I32(n)], &mut results)
        .unwrap();
    let suspensions = finish_in_slices(&mut store, call, &mut results, 500);
    assert!(suspensions > 10);
    assert_eq!(results[0], Val::I64(expected));
}

const YIELDING: &str = r#"(module
  (import "host" "block" (func $block (param i32) (result i32)))
  (func (export "run") (param i32) (result i32)
    (i32.add (call $block (local.get 0)) (i32.const 1))))"#;

#[test]
fn a_host_yield_after_the_switch_resumes_with_the_host_results() {
    let s = auto(false, None);
    let module = Module::new(&s.engine, wat::parse_str(YIELDING).unwrap()).unwrap();
    assert!(module.wait_for_jit());
    let mut store = Store::new(&s.engine, ());
    let mut linker = Linker::new(&s.engine);
    linker
        .func_wrap(
            "host",
            "block",
            |_: Caller<'_, ()>, _: i32| -> crate::Result<i32> { Err(Error::host_yield(9)) },
        )
        .unwrap();
    let inst = linker.instantiate(&mut store, &module).unwrap();
    let run = inst.get_func(&store, "run").unwrap();
    let host_records = |store: &Store<()>| {
        (0..store.core.num_funcs())
            .filter(|&f| matches!(store.core.func(f).kind(), crate::runtime::FuncKind::Host(_)))
            .map(|f| !store.core.func(f).wasm_call.is_null())
            .collect::<Vec<bool>>()
    };
    // Before the switch, host functions have no trampolines (start-up compiles nothing).
    assert_eq!(host_records(&store), [false]);
    let mut results = [Val::I32(0)];
    let call = run
        .call_resumable(&mut store, &[Val::I32(1)], &mut results)
        .unwrap();
    assert!(is_jit_func(&store.core, run.index));
    assert_eq!(host_records(&store), [true]);
    let ResumableCall::HostYield(inv) = call else {
        panic!("expected a host yield")
    };
    assert_eq!(inv.yield_tag(), Some(9));
    let done = inv
        .resume(&mut store, &[Val::I32(41)], &mut results)
        .unwrap();
    assert!(matches!(done, ResumableCall::Finished));
    assert_eq!(results[0], Val::I32(42));
    // A host function added after the switch gets its trampoline at once.
    let late = Func::wrap(&mut store, |x: i32| -> i32 { x * 3 });
    let mut linker = Linker::new(&s.engine);
    linker.define(&store, "host", "block", late).unwrap();
    let inst = linker.instantiate(&mut store, &module).unwrap();
    let run = inst.get_typed_func::<i32, i32>(&store, "run").unwrap();
    assert!(is_jit_func(&store.core, run.func().index));
    assert_eq!(run.call(&mut store, 5).unwrap(), 16);
}

const LIB: &str = r#"(module
  (func (export "double") (param i32) (result i32) (i32.mul (local.get 0) (i32.const 2))))"#;
const USER: &str = r#"(module
  (import "lib" "double" (func $double (param i32) (result i32)))
  (table 1 funcref)
  (elem (i32.const 0) $double)
  (type $t (func (param i32) (result i32)))
  (func (export "quad") (param i32) (result i32)
    (call_indirect (type $t) (call $double (local.get 0)) (i32.const 0))))"#;

#[test]
fn a_store_switches_when_all_its_modules_have_code_and_later_instances_join() {
    let s = auto(false, None);
    let held = s.gate.lock().unwrap();
    let lib = Module::new(&s.engine, wat::parse_str(LIB).unwrap()).unwrap();
    let user = Module::new(&s.engine, wat::parse_str(USER).unwrap()).unwrap();
    let mut store = Store::new(&s.engine, ());
    let mut linker = Linker::new(&s.engine);
    let lib_inst = linker.instantiate(&mut store, &lib).unwrap();
    linker.instance(&mut store, "lib", lib_inst).unwrap();
    let user_inst = linker.instantiate(&mut store, &user).unwrap();
    let quad = user_inst
        .get_typed_func::<i32, i32>(&store, "quad")
        .unwrap();
    assert_eq!(quad.call(&mut store, 3).unwrap(), 12);
    drop(held);
    assert!(lib.wait_for_jit() && user.wait_for_jit());
    assert_eq!(quad.call(&mut store, 5).unwrap(), 20);
    assert_eq!(store.auto, AutoState::Switched);
    assert!(is_jit_func(&store.core, quad.func().index));
    // A module whose code is still being compiled when it is instantiated into a switched
    // store: the instantiation waits for it.
    let (locked_tx, locked) = std::sync::mpsc::channel();
    let gate = s.gate.clone();
    let waiter = std::thread::spawn(move || {
        let held = gate.lock().unwrap();
        locked_tx.send(()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        drop(held);
    });
    locked.recv().unwrap();
    let user2 = Module::new(&s.engine, wat::parse_str(USER).unwrap()).unwrap();
    assert_eq!(user2.auto_slot().unwrap().state(), None);
    let user2_inst = linker.instantiate(&mut store, &user2).unwrap();
    waiter.join().unwrap();
    let quad2 = user2_inst
        .get_typed_func::<i32, i32>(&store, "quad")
        .unwrap();
    assert!(is_jit_func(&store.core, quad2.func().index));
    assert_eq!(quad2.call(&mut store, 7).unwrap(), 28);
}

#[test]
fn a_module_dropped_before_its_compile_is_neither_compiled_nor_leaked() {
    let s = auto(false, None);
    let held = s.gate.lock().unwrap();
    let module = Module::new(&s.engine, wat::parse_str(FIB).unwrap()).unwrap();
    let weak = module.weak_for_tests();
    drop(module);
    assert!(weak.upgrade().is_none());
    drop(held);
    // The thread finds nothing to compile; a module made now still compiles.
    let module = Module::new(&s.engine, wat::parse_str(FIB).unwrap()).unwrap();
    assert!(module.wait_for_jit());
}

#[test]
fn the_cache_round_trips_and_a_hit_is_ready_at_once() {
    let mem = Arc::new(MemCache::default());
    let wasm = wat::parse_str(FIB).unwrap();
    let first = auto(false, Some(mem.clone()));
    let module = Module::new(&first.engine, &wasm).unwrap();
    assert!(module.wait_for_jit());
    // The background thread writes the entry after publishing the code.
    for _ in 0..500 {
        if mem.puts() == 1 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    assert_eq!(mem.puts(), 1);
    // Another engine with the same configuration (a later run): the code is there at once,
    // with no compile and no write.
    let second = auto(false, Some(mem.clone()));
    let _held = second.gate.lock().unwrap();
    let module = Module::new(&second.engine, &wasm).unwrap();
    assert_eq!(module.auto_slot().unwrap().state(), Some(true));
    let (mut store, fib) = fib_instance(&second.engine, &module);
    assert_eq!(call_fib(&mut store, fib, 20), 6765);
    assert!(is_jit_func(&store.core, fib.index));
    assert_eq!(mem.puts(), 1);
}

#[test]
fn a_damaged_cache_entry_is_a_miss_and_is_compiled_again() {
    let mem = Arc::new(MemCache::default());
    let wasm = wat::parse_str(FIB).unwrap();
    let first = auto(false, Some(mem.clone()));
    assert!(Module::new(&first.engine, &wasm).unwrap().wait_for_jit());
    for _ in 0..500 {
        if mem.puts() == 1 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let (key, good) = mem
        .entries
        .lock()
        .unwrap()
        .iter()
        .next()
        .map(|(k, v)| (k.clone(), v.clone()))
        .unwrap();
    for damage in [
        |e: &mut Vec<u8>| {
            let mid = e.len() / 2;
            e[mid] ^= 0x40;
        },
        |e: &mut Vec<u8>| e.truncate(e.len() - 9),
        |e: &mut Vec<u8>| e.clear(),
    ] {
        let mut bad = good.clone();
        damage(&mut bad);
        mem.entries.lock().unwrap().insert(key.clone(), bad);
        let puts = mem.puts();
        let s = auto(false, Some(mem.clone()));
        let held = s.gate.lock().unwrap();
        let module = Module::new(&s.engine, &wasm).unwrap();
        assert_eq!(
            module.auto_slot().unwrap().state(),
            None,
            "a damaged entry was used"
        );
        drop(held);
        assert!(module.wait_for_jit());
        let (mut store, fib) = fib_instance(&s.engine, &module);
        assert_eq!(call_fib(&mut store, fib, 20), 6765);
        for _ in 0..500 {
            if mem.puts() > puts {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        assert_eq!(
            mem.puts(),
            puts + 1,
            "the recompiled code was not written back"
        );
    }
    // Every truncation of an intact entry is refused, never a panic.
    let fp = cache::fingerprint("test");
    let compiled = Module::new(&first.engine, &wasm).unwrap();
    assert!(compiled.wait_for_jit());
    let entry = cache::encode(&fp, &wasm, compiled.jit_code().unwrap().compiled());
    let info = compiled.info();
    let (imp, def) = (info.num_imported_funcs, info.num_defined_funcs());
    assert!(cache::decode(&entry, &fp, &wasm, imp, def).is_some());
    for len in 0..entry.len() {
        assert!(cache::decode(&entry[..len], &fp, &wasm, imp, def).is_none());
    }
    // An intact entry for other bytes, another configuration or another shape is a miss.
    let mut other = wasm.clone();
    other.push(0);
    assert!(cache::decode(&entry, &fp, &other, imp, def).is_none());
    assert!(cache::decode(&entry, &cache::fingerprint("other"), &wasm, imp, def).is_none());
    assert!(cache::decode(&entry, &fp, &wasm, imp, def + 1).is_none());
}

#[test]
fn keys_differ_by_configuration_and_by_bytes() {
    let wasm = wat::parse_str(FIB).unwrap();
    let key_of = |fuel: bool| {
        let s = auto(fuel, None);
        let jit = s.engine.jit().unwrap();
        super::auto::cache_key(jit, Module::new(&s.engine, &wasm).unwrap().info())
    };
    let (fp_plain, key_plain) = key_of(false);
    let (fp_fuel, key_fuel) = key_of(true);
    assert_ne!(fp_plain, fp_fuel);
    assert_ne!(key_plain, key_fuel);
    assert_eq!(key_of(false).1, key_plain, "keys are deterministic");
    assert_eq!(key_plain.len(), 32);
    assert!(fp_plain.contains(env!("CARGO_PKG_VERSION")));
    // A rebuild with changed sources has another fingerprint (see build.rs).
    assert!(fp_plain.contains(env!("WEFT_ENGINE_SOURCE_HASH")));
    assert_ne!(
        cache::key(&fp_plain, b"\0asm"),
        cache::key(&fp_plain, b"\0asn")
    );
}

#[test]
fn the_directory_cache_keeps_to_its_bound_deleting_the_least_recently_used() {
    let dir = std::env::temp_dir().join(alloc::format!(
        "weft-jit-cache-bound-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let c = DirCodeCache::new(&dir).with_max_bytes(3000);
    let key = |i: u32| alloc::format!("{i:032x}");
    let at =
        |i: u32| std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000 + u64::from(i));
    let age = |i: u32| {
        let f = std::fs::File::options()
            .write(true)
            .open(dir.join(key(i)))
            .unwrap();
        f.set_modified(at(i)).unwrap();
    };
    // Three entries of 1000 bytes fit; each gets an older time than the next.
    for i in 0..3 {
        c.put(&key(i), &[i as u8; 1000]);
        age(i);
    }
    // A stale temporary file of a writer that died, and one being written now.
    let (stale, fresh) = (dir.join(".x.1.0.tmp"), dir.join(".y.2.0.tmp"));
    std::fs::write(&stale, b"partial").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(at(0))
        .unwrap();
    std::fs::write(&fresh, b"partial").unwrap();
    // Entry 0 is read (used now), so entry 1 is the least recently used.
    assert_eq!(c.get(&key(0)).unwrap(), [0u8; 1000]);
    c.put(&key(3), &[3; 1000]);
    let present = |i: u32| dir.join(key(i)).exists();
    assert!(present(0) && !present(1) && present(2) && present(3));
    assert!(
        !stale.exists(),
        "a temporary file over an hour old is deleted"
    );
    assert!(fresh.exists(), "a temporary file being written is kept");
    // An entry bigger than the bound is kept alone (the newest always stays).
    c.put(&key(4), &[4; 5000]);
    assert!(present(4) && !present(0) && !present(2) && !present(3));
    assert_eq!(c.get(&key(4)).unwrap().len(), 5000);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_directory_cache_stores_entries_whole_and_refuses_odd_keys() {
    let dir =
        std::env::temp_dir().join(alloc::format!("weft-jit-cache-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let c = DirCodeCache::new(dir.join("nested"));
    let key = "0123456789abcdef0123456789abcdef";
    assert_eq!(c.get(key), None);
    c.put(key, b"entry");
    assert_eq!(c.get(key).as_deref(), Some(&b"entry"[..]));
    c.put(key, b"newer");
    assert_eq!(c.get(key).as_deref(), Some(&b"newer"[..]));
    c.put("../escape", b"x");
    assert_eq!(c.get("../escape"), None);
    assert!(!dir.join("escape").exists());
    // No temporary files are left behind.
    let names: Vec<_> = std::fs::read_dir(c.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1);
    // Through an engine: a second run loads the code the first one wrote.
    let wasm = wat::parse_str(FIB).unwrap();
    let engine_with_dir = || {
        let mut config = Config::new();
        config
            .strategy(Strategy::Auto)
            .unwrap()
            .code_cache(Some(Arc::new(DirCodeCache::new(dir.join("engine")))));
        Engine::new(&config)
    };
    let e1 = engine_with_dir();
    assert!(Module::new(&e1, &wasm).unwrap().wait_for_jit());
    for _ in 0..500 {
        // (The entry is written after the code is published: wait for the renamed file.)
        let entries = std::fs::read_dir(dir.join("engine"));
        if entries.is_ok_and(|d| {
            d.filter_map(|e| e.ok())
                .any(|e| !e.file_name().to_string_lossy().starts_with('.'))
        }) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let m2 = Module::new(&engine_with_dir(), &wasm).unwrap();
    assert_eq!(m2.auto_slot().unwrap().state(), Some(true));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_engine_default_is_auto_where_the_jit_runs() {
    assert!(Strategy::jit_available());
    assert_eq!(Strategy::default(), Strategy::Auto);
    assert_eq!(Engine::default().strategy(), Strategy::Auto);
    assert_eq!(Store::new(&Engine::default(), ()).auto, AutoState::Pending);
    // A store of an engine without Auto never waits to switch.
    let mut config = Config::new();
    config.strategy(Strategy::Interpreter).unwrap();
    assert_eq!(Store::new(&Engine::new(&config), ()).auto, AutoState::Off);
}

#[test]
fn a_small_module_is_compiled_at_load_and_its_first_call_runs_compiled() {
    let cache = Arc::new(MemCache::default());
    let mut config = Config::new();
    config
        .strategy(Strategy::Auto)
        .unwrap()
        .code_cache(Some(cache.clone() as Arc<dyn CodeCache>));
    let engine = Engine::new(&config);
    let wasm = wat::parse_str(FIB).unwrap();
    // Below the default limit: the code is there when `Module::new` returns, and cached.
    let module = Module::new(&engine, &wasm).unwrap();
    assert_eq!(module.auto_slot().unwrap().state(), Some(true));
    assert_eq!(cache.puts(), 1);
    let (mut store, fib) = fib_instance(&engine, &module);
    assert_eq!(call_fib(&mut store, fib, 20), 6765);
    assert_eq!(store.auto, AutoState::Switched);
    // Above the limit (here: any module), a miss goes to the background instead.
    config.auto_compile_at_load(wasm.len() - 1);
    config.code_cache(None);
    let gate = Arc::new(Mutex::new(()));
    config.auto_gate = Some(gate.clone());
    let held = gate.lock().unwrap();
    let module = Module::new(&Engine::new(&config), &wasm).unwrap();
    assert_eq!(module.auto_slot().unwrap().state(), None);
    drop(held);
    assert!(module.wait_for_jit());
}

#[test]
fn host_functions_made_before_the_switch_are_called_with_their_own_types() {
    // Two host functions of different types made before the store switches: the switch
    // gives each a trampoline naming that function (store and host index alike).
    let s = auto(false, None);
    let module = Module::new(
        &s.engine,
        wat::parse_str(
            r#"(module
  (import "host" "one" (func $one (param i32) (result i32)))
  (import "host" "two" (func $two (param i32 i32) (result i32)))
  (func (export "run") (param i32) (result i32)
    (call $two (call $one (local.get 0)) (i32.const 10))))"#,
        )
        .unwrap(),
    )
    .unwrap();
    let mut store = Store::new(&s.engine, ());
    // A Wasm function first, so that the host functions' store indices differ from their
    // host indices.
    let first = Module::new(
        &s.engine,
        wat::parse_str(r#"(module (func (export "f")))"#).unwrap(),
    )
    .unwrap();
    Linker::new(&s.engine)
        .instantiate(&mut store, &first)
        .unwrap();
    let mut linker = Linker::new(&s.engine);
    linker
        .func_wrap("host", "one", |x: i32| x + 1)
        .unwrap()
        .func_wrap("host", "two", |x: i32, y: i32| x * y)
        .unwrap();
    let inst = linker.instantiate(&mut store, &module).unwrap();
    let run = inst.get_typed_func::<i32, i32>(&store, "run").unwrap();
    assert_eq!(run.call(&mut store, 4).unwrap(), 50);
    assert!(module.wait_for_jit() && first.wait_for_jit());
    assert_eq!(run.call(&mut store, 5).unwrap(), 60);
    assert_eq!(store.auto, AutoState::Switched);
}
