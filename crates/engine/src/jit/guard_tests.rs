//! Guard-region memories through the public API: accesses at and past the end, far past it
//! (index and offset near 4 GiB), after `memory.grow`, with offsets above the guard; on
//! guarded memories, on the fallbacks (a refused reservation for one memory, or for the
//! engine's probe), with imported memories, on the interpreter over a guarded memory, and
//! many stores made and dropped.
extern crate std;

use alloc::format;
use alloc::vec::Vec;

use super::memory::{GUARD_SIZE, MemoryPool, refuse_reservations};
use crate::{
    Config, Engine, Extern, Instance, Memory, MemoryType, Module, Store, Strategy, TrapCode, Val,
};

const PAGE: u32 = 65536;

/// The accessors, over memory 0 as defined or imported by `memory`.
fn wat(memory: &str) -> alloc::string::String {
    format!(
        r#"(module
  {memory}
  (func (export "load8") (param i32) (result i32) (i32.load8_u (local.get 0)))
  (func (export "load32") (param i32) (result i32) (i32.load (local.get 0)))
  (func (export "load64") (param i32) (result i64) (i64.load (local.get 0)))
  ;; The largest offset the guard covers for a 4-byte load, and one more (checked).
  (func (export "load_guard_edge") (param i32) (result i32)
    (i32.load offset=0x7ffffffc (local.get 0)))
  (func (export "load_past_guard") (param i32) (result i32)
    (i32.load offset=0x7ffffffd (local.get 0)))
  (func (export "load_far") (param i32) (result i32) (i32.load offset=0xfffffff0 (local.get 0)))
  (func (export "store8") (param i32 i32) (i32.store8 (local.get 0) (local.get 1)))
  (func (export "store64") (param i32 i64) (i64.store (local.get 0) (local.get 1)))
  (func (export "store_far") (param i32 i32) (i32.store offset=0xfffffff0 (local.get 0) (local.get 1)))
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "size") (result i32) (memory.size)))"#
    )
}

fn jit_engine() -> Engine {
    let mut config = Config::new();
    config.strategy(Strategy::Jit).unwrap();
    Engine::new(&config)
}

fn call(store: &mut Store<()>, inst: Instance, name: &str, args: &[Val]) -> Result<i64, TrapCode> {
    let f = inst.get_func(&*store, name).unwrap();
    let mut results = Vec::new();
    if matches!(name, "load8" | "load32" | "load64" | "grow" | "size") || name.starts_with("load_")
    {
        results.push(Val::I32(0));
    }
    f.call(&mut *store, args, &mut results)
        .map_err(|e| e.trap_code().expect("a trap"))?;
    Ok(match results.first() {
        Some(Val::I32(v)) => i64::from(*v),
        Some(Val::I64(v)) => *v,
        _ => 0,
    })
}

fn i(v: u32) -> Val {
    Val::I32(v as i32)
}

const OOB: Result<i64, TrapCode> = Err(TrapCode::MemoryOutOfBounds);

/// Runs every check against `inst`, whose memory 0 is `mem` (1 page, maximum 4).
fn check_accesses(store: &mut Store<()>, inst: Instance, mem: Memory) {
    let len = PAGE;
    // The last valid byte, one past, far past; loads of each width across the end.
    assert_eq!(call(store, inst, "load8", &[i(len - 1)]), Ok(0));
    assert_eq!(call(store, inst, "load8", &[i(len)]), OOB);
    assert_eq!(call(store, inst, "load32", &[i(len - 4)]), Ok(0));
    assert_eq!(call(store, inst, "load32", &[i(len - 3)]), OOB);
    assert_eq!(call(store, inst, "load64", &[i(len - 8)]), Ok(0));
    assert_eq!(call(store, inst, "load64", &[i(len - 7)]), OOB);
    assert_eq!(call(store, inst, "load32", &[i(0xffff_fff0)]), OOB);
    assert_eq!(call(store, inst, "load32", &[i(u32::MAX)]), OOB);
    assert_eq!(call(store, inst, "load_far", &[i(0xffff_fff0)]), OOB);
    assert_eq!(call(store, inst, "load_far", &[i(0)]), OOB);
    assert_eq!(call(store, inst, "store_far", &[i(0xffff_fff0), i(1)]), OOB);
    // The deepest access the guard covers (its last byte is the reservation's last), and
    // the first one the code checks explicitly.
    assert_eq!(call(store, inst, "load_guard_edge", &[i(u32::MAX)]), OOB);
    assert_eq!(call(store, inst, "load_guard_edge", &[i(0)]), OOB);
    assert_eq!(call(store, inst, "load_past_guard", &[i(u32::MAX)]), OOB);
    assert_eq!(call(store, inst, "load_past_guard", &[i(0)]), OOB);

    // Stores: the last byte works; past it traps and writes nothing, also when the access
    // straddles the end.
    assert_eq!(call(store, inst, "store8", &[i(len - 1), i(5)]), Ok(0));
    assert_eq!(call(store, inst, "load8", &[i(len - 1)]), Ok(5));
    assert_eq!(call(store, inst, "store8", &[i(len), i(1)]), OOB);
    assert_eq!(
        call(store, inst, "store64", &[i(len - 4), Val::I64(-1)]),
        OOB
    );
    let data = mem.data(&*store).unwrap();
    assert_eq!(data.len(), len as usize);
    assert_eq!(&data[len as usize - 4..], &[0, 0, 0, 5]);

    // Growth: the new page works (and is zero), the page after it traps; the maximum holds.
    assert_eq!(call(store, inst, "grow", &[i(1)]), Ok(1));
    assert_eq!(call(store, inst, "size", &[]), Ok(2));
    assert_eq!(call(store, inst, "load8", &[i(len)]), Ok(0));
    assert_eq!(call(store, inst, "load64", &[i(2 * len - 8)]), Ok(0));
    assert_eq!(call(store, inst, "store8", &[i(2 * len - 1), i(9)]), Ok(0));
    assert_eq!(call(store, inst, "load8", &[i(2 * len - 1)]), Ok(9));
    assert_eq!(call(store, inst, "load8", &[i(2 * len)]), OOB);
    assert_eq!(call(store, inst, "load64", &[i(2 * len - 7)]), OOB);
    assert_eq!(call(store, inst, "grow", &[i(3)]), Ok(-1));
    assert_eq!(call(store, inst, "size", &[]), Ok(2));
    assert_eq!(call(store, inst, "load8", &[i(2 * len)]), OOB);
    // The host grows it too; generated code sees the new size.
    assert_eq!(mem.grow(&mut *store, 2).unwrap(), 2);
    assert_eq!(call(store, inst, "load8", &[i(4 * len - 1)]), Ok(0));
    assert_eq!(call(store, inst, "load8", &[i(4 * len)]), OOB);
    assert_eq!(call(store, inst, "grow", &[i(1)]), Ok(-1));
    let data = mem.data(&*store).unwrap();
    assert_eq!(data.len(), 4 * len as usize);
    assert_eq!(
        data.iter().map(|&b| u32::from(b)).sum::<u32>(),
        5 + 9,
        "growth exposed only zeros"
    );
}

/// Instantiates the module with its own memory; returns the instance and the memory.
fn defined(engine: &Engine, store: &mut Store<()>) -> (Instance, Memory) {
    let module = Module::new(
        engine,
        wat::parse_str(wat(r#"(memory (export "mem") 1 4)"#)).unwrap(),
    )
    .unwrap();
    let inst = Instance::new(&mut *store, &module, &[]).unwrap();
    let mem = inst
        .get_export(&*store, "mem")
        .and_then(Extern::into_memory)
        .unwrap();
    (inst, mem)
}

fn guard_of(store: &Store<()>, mem: Memory) -> u64 {
    store.core.memory(mem.index).guard_bytes()
}

#[test]
fn guarded_memory_accesses() {
    let engine = jit_engine();
    assert!(engine.jit().unwrap().guard_regions());
    let mut store = Store::new(&engine, ());
    let (inst, mem) = defined(&engine, &mut store);
    assert_eq!(guard_of(&store, mem), GUARD_SIZE);
    check_accesses(&mut store, inst, mem);
}

#[test]
fn a_refused_reservation_runs_the_explicitly_checked_variant() {
    let engine = jit_engine();
    assert!(engine.jit().unwrap().guard_regions());
    // The engine compiles for guard regions, but this store's memory is on the heap: the
    // instance gets the module's variant with explicit checks.
    let mut store = Store::new(&engine, ());
    refuse_reservations(true);
    let made = defined(&engine, &mut store);
    refuse_reservations(false);
    let (inst, mem) = made;
    assert_eq!(guard_of(&store, mem), 0);
    check_accesses(&mut store, inst, mem);
    // The same module's next instance has a guarded memory and the guard-region code; both
    // variants live side by side.
    let (inst2, mem2) = defined(&engine, &mut store);
    assert_eq!(guard_of(&store, mem2), GUARD_SIZE);
    check_accesses(&mut store, inst2, mem2);
}

#[test]
fn an_engine_whose_probe_is_refused_checks_explicitly() {
    refuse_reservations(true);
    let engine = jit_engine();
    refuse_reservations(false);
    assert!(!engine.jit().unwrap().guard_regions());
    let mut store = Store::new(&engine, ());
    let (inst, mem) = defined(&engine, &mut store);
    assert_eq!(guard_of(&store, mem), 0, "its stores make heap memories");
    check_accesses(&mut store, inst, mem);
}

#[test]
fn imported_memories_are_guarded_and_so_may_fall_back() {
    let engine = jit_engine();
    let module = Module::new(
        &engine,
        wat::parse_str(wat(r#"(import "env" "mem" (memory 1 4))"#)).unwrap(),
    )
    .unwrap();
    for refuse in [false, true] {
        let mut store = Store::new(&engine, ());
        refuse_reservations(refuse);
        let mem = Memory::new(&mut store, MemoryType::new(1, Some(4)));
        refuse_reservations(false);
        let mem = mem.unwrap();
        let expected = if refuse { 0 } else { GUARD_SIZE };
        assert_eq!(guard_of(&store, mem), expected);
        let inst = Instance::new(&mut store, &module, &[mem.into()]).unwrap();
        check_accesses(&mut store, inst, mem);
    }
}

#[test]
fn the_interpreter_runs_on_guarded_memories() {
    // A hosted interpreter engine makes guarded memories like the JIT's.
    let engine = Engine::new(&Config::new());
    let mut store = Store::new(&engine, ());
    let (inst, mem) = defined(&engine, &mut store);
    assert_eq!(guard_of(&store, mem), GUARD_SIZE);
    check_accesses(&mut store, inst, mem);
    // And so does any store given the pool.
    let mut store = Store::new(&engine, ());
    store
        .core
        .set_memory_allocator(alloc::sync::Arc::new(MemoryPool::for_host().unwrap()));
    let (inst, mem) = defined(&engine, &mut store);
    assert_eq!(guard_of(&store, mem), GUARD_SIZE);
    check_accesses(&mut store, inst, mem);
}

#[test]
fn many_stores_with_guarded_memories_come_and_go() {
    // 25,000 x 6 GiB is 150 TiB, more than a 47-bit address space: this runs out of address
    // space (or of registry ranges) unless every dropped store releases its reservation.
    let engine = jit_engine();
    let module = Module::new(
        &engine,
        wat::parse_str(
            r#"(module (memory 1)
                 (func (export "poke") (i32.store8 (i32.const 65535) (i32.const 1))))"#,
        )
        .unwrap(),
    )
    .unwrap();
    for n in 0..25_000 {
        let mut store = Store::new(&engine, ());
        let inst = Instance::new(&mut store, &module, &[]).unwrap();
        let mem = store.core.instance(inst.index).memories()[0];
        assert_eq!(
            store.core.memory(mem).guard_bytes(),
            GUARD_SIZE,
            "store {n}"
        );
        let poke = inst.get_func(&store, "poke").unwrap();
        poke.call(&mut store, &[], &mut []).unwrap();
    }
}

#[test]
fn instances_of_a_module_with_a_memory_image_start_from_its_bytes() {
    use crate::{Global, GlobalType, Mutability, ValType};
    let wat = |offset: &str| {
        format!(
            r#"(module
                 (import "env" "g" (global $g i32))
                 (memory (export "mem") 2)
                 (data (i32.const 10) "hello")
                 (data (i32.const 12) "LL")
                 (data ({offset}) "world")
                 (data "passive")
                 (func (export "poke") (i32.store8 (i32.const 11) (i32.const 69))))"#
        )
    };
    let mut expected = alloc::vec![0u8; 2 * PAGE as usize];
    expected[10..15].copy_from_slice(b"heLLo");
    expected[65539..65544].copy_from_slice(b"world");
    let instance = |store: &mut Store<()>, module: &Module| {
        let ty = GlobalType::new(ValType::I32, Mutability::Const);
        let g = Global::new(&mut *store, ty, Val::I32(65539)).unwrap();
        let inst = Instance::new(&mut *store, module, &[g.into()]).unwrap();
        (inst, inst.get_memory(&*store, "mem").unwrap())
    };
    for engine in [jit_engine(), Engine::new(&Config::new())] {
        // Constant offsets make an image; a `global.get` offset does not, and the segments
        // are copied: the bytes are the same either way.
        for (offset, imaged) in [("i32.const 65539", true), ("global.get $g", false)] {
            let module = Module::new(&engine, wat::parse_str(wat(offset)).unwrap()).unwrap();
            assert_eq!(module.memory_image().is_some(), imaged, "{offset}");
            let mut store = Store::new(&engine, ());
            let (a, mem_a) = instance(&mut store, &module);
            let (_, mem_b) = instance(&mut store, &module);
            assert_eq!(mem_a.data(&store).unwrap(), &expected[..]);
            // A write by one instance is its own.
            a.get_typed_func::<(), ()>(&store, "poke")
                .unwrap()
                .call(&mut store, ())
                .unwrap();
            assert_eq!(&mem_a.data(&store).unwrap()[10..15], b"hELLo");
            assert_eq!(mem_b.data(&store).unwrap(), &expected[..]);
            mem_b.data_mut(&mut store).unwrap()[65539] = b'W';
            drop(store);
            // A new store, whose memory may reuse the dropped ones' reservations, sees the
            // module's bytes again.
            let mut store = Store::new(&engine, ());
            let (_, mem_c) = instance(&mut store, &module);
            assert_eq!(mem_c.data(&store).unwrap(), &expected[..]);
        }
    }
}
