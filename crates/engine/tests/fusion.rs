//! The translator fuses instruction sequences (address arithmetic into loads and stores,
//! shifts into adds, comparisons into branches, results into `local.set`). These tests pin
//! the semantics of each fused form, including 32-bit wrap-around and operand order.

use weft_engine::*;

mod common;

const MODULE: &str = r#"(module
  (memory (export "mem") 1)
  (func $init (local i32) (loop $l
      (i32.store (i32.shl (local.get 0) (i32.const 2)) (i32.mul (local.get 0) (i32.const 7)))
      (local.set 0 (i32.add (local.get 0) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get 0) (i32.const 64)))))
  (start $init)
  ;; base + index, either order
  (func (export "add_load") (param i32 i32) (result i32)
    (i32.load (i32.add (local.get 0) (local.get 1))))
  (func (export "add_load_swapped") (param i32 i32) (result i32)
    (local.get 1) (local.get 0) (i32.add) (i32.load))
  ;; base + (index << 2), shifted operand on either side
  (func (export "scaled_load") (param i32 i32) (result i32)
    (i32.load (i32.add (local.get 0) (i32.shl (local.get 1) (i32.const 2)))))
  (func (export "scaled_load_swapped") (param i32 i32) (result i32)
    (i32.load (i32.add (i32.shl (local.get 1) (i32.const 2)) (local.get 0))))
  ;; a shift count of 34 means 2 (mod 32)
  (func (export "scaled_mod") (param i32 i32) (result i32)
    (i32.load (i32.add (local.get 0) (i32.shl (local.get 1) (i32.const 34)))))
  ;; the fused add without a load
  (func (export "addshl") (param i32 i32) (result i32)
    (i32.add (local.get 0) (i32.shl (local.get 1) (i32.const 3))))
  ;; scaled store, then read back
  (func (export "scaled_store") (param i32 i32 i32) (result i32)
    (i32.store (i32.add (local.get 0) (i32.shl (local.get 1) (i32.const 2))) (local.get 2))
    (i32.load (i32.add (local.get 0) (i32.shl (local.get 1) (i32.const 2)))))
  ;; a nonzero offset is not fused but must still apply
  (func (export "offset_load") (param i32 i32) (result i32)
    (i32.load offset=8 (i32.add (local.get 0) (local.get 1))))
  ;; compare-and-branch in both polarities
  (func (export "min") (param i64 i64) (result i64)
    (if (result i64) (i64.lt_s (local.get 0) (local.get 1))
      (then (local.get 0)) (else (local.get 1))))
  (func (export "count_down") (param i32) (result i32) (local i32)
    (block $done (loop $l
      (br_if $done (i32.eqz (local.get 0)))
      (local.set 1 (i32.add (local.get 1) (i32.const 1)))
      (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
      (br $l)))
    (local.get 1))
  ;; select with operands from locals and constants
  (func (export "sel") (param i32 i32 i32) (result i32)
    (select (local.get 0) (i32.const 99) (local.get 2)))
  ;; counted loops: the increment fuses into the closing branch
  (func (export "count_lt_u") (param $n i32) (result i32) (local $i i32) (local $k i32)
    (loop $l
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 3))) (local.get $n))))
    (local.get $k))
  (func (export "count_lt_s") (param $n i32) (result i32) (local $i i32) (local $k i32)
    (local.set $i (i32.const -10))
    (loop $l
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (local.set $i (i32.add (i32.const 2) (local.get $i)))
      (br_if $l (i32.lt_s (local.get $i) (local.get $n))))
    (local.get $k))
  (func (export "count_ne") (param $n i32) (result i32) (local $i i32) (local $k i32)
    (local.set $i (i32.const -2))
    (loop $l
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.ne (local.get $i) (local.get $n))))
    (local.get $k))
  ;; an increment before a join point must not fuse with a branch after it
  (func (export "join") (param $n i32) (result i32) (local $i i32)
    (block $out
      (block $b
        (br_if $b (local.get $n))
        (local.set $i (i32.add (local.get $i) (i32.const 5))))
      (br_if $out (i32.lt_u (local.get $i) (i32.const 3)))
      (return (i32.const 100)))
    (i32.const 200))
  ;; select on an eqz condition
  (func (export "sel_eqz32") (param i32 i32 i32) (result i32)
    (select (local.get 0) (local.get 1) (i32.eqz (local.get 2))))
  (func (export "sel_eqz64") (param i64) (result i64)
    (select (i64.const 1) (i64.const 2) (i64.eqz (local.get 0))))
  ;; a local read before it is overwritten in the same expression
  (func (export "swap_sub") (param i32 i32) (result i32)
    (local.get 0)
    (local.set 0 (local.get 1))
    (local.get 0)
    (i32.sub)))"#;

fn setup() -> (Store<()>, Instance) {
    let engine = common::engine();
    let module = Module::new(&engine, wat::parse_str(MODULE).unwrap()).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Linker::new(&engine)
        .instantiate(&mut store, &module)
        .unwrap();
    (store, instance)
}

fn call2(store: &mut Store<()>, instance: Instance, name: &str, a: i32, b: i32) -> Result<i32> {
    instance
        .get_typed_func::<(i32, i32), i32>(&*store, name)?
        .call(store, (a, b))
}

#[test]
fn fused_address_arithmetic_matches_the_unfused_semantics() {
    let (mut store, inst) = setup();
    // word i holds 7 * i
    assert_eq!(call2(&mut store, inst, "add_load", 8, 4).unwrap(), 21);
    assert_eq!(
        call2(&mut store, inst, "add_load_swapped", 8, 4).unwrap(),
        21
    );
    assert_eq!(call2(&mut store, inst, "scaled_load", 8, 5).unwrap(), 49);
    assert_eq!(
        call2(&mut store, inst, "scaled_load_swapped", 8, 5).unwrap(),
        49
    );
    assert_eq!(call2(&mut store, inst, "scaled_mod", 0, 10).unwrap(), 70);
    assert_eq!(call2(&mut store, inst, "addshl", 5, 3).unwrap(), 29);
    assert_eq!(call2(&mut store, inst, "offset_load", 4, 4).unwrap(), 28);
    // 32-bit wrap-around: (-4) + (2 << 2) = 4, i.e. word 1.
    assert_eq!(call2(&mut store, inst, "scaled_load", -4, 2).unwrap(), 7);
    assert_eq!(call2(&mut store, inst, "add_load", -4, 8).unwrap(), 7);
    // Out of bounds after the wrap traps.
    let err = call2(&mut store, inst, "scaled_load", 65536, 0).unwrap_err();
    assert_eq!(err.trap_code(), Some(TrapCode::MemoryOutOfBounds));
    let f = inst
        .get_typed_func::<(i32, i32, i32), i32>(&store, "scaled_store")
        .unwrap();
    assert_eq!(f.call(&mut store, (16, 3, 1234)).unwrap(), 1234);
    assert_eq!(call2(&mut store, inst, "add_load", 16, 12).unwrap(), 1234);
}

#[test]
fn fused_branches_selects_and_local_writes() {
    let (mut store, inst) = setup();
    let min = inst
        .get_typed_func::<(i64, i64), i64>(&store, "min")
        .unwrap();
    assert_eq!(min.call(&mut store, (-5, 3)).unwrap(), -5);
    assert_eq!(min.call(&mut store, (5, 3)).unwrap(), 3);
    let count = inst
        .get_typed_func::<i32, i32>(&store, "count_down")
        .unwrap();
    assert_eq!(count.call(&mut store, 17).unwrap(), 17);
    let sel = inst
        .get_typed_func::<(i32, i32, i32), i32>(&store, "sel")
        .unwrap();
    assert_eq!(sel.call(&mut store, (1, 0, 1)).unwrap(), 1);
    assert_eq!(sel.call(&mut store, (1, 0, 0)).unwrap(), 99);
    assert_eq!(call2(&mut store, inst, "swap_sub", 10, 3).unwrap(), 7);
    let sel32 = inst
        .get_typed_func::<(i32, i32, i32), i32>(&store, "sel_eqz32")
        .unwrap();
    assert_eq!(sel32.call(&mut store, (5, 6, 0)).unwrap(), 5);
    assert_eq!(sel32.call(&mut store, (5, 6, 9)).unwrap(), 6);
    let sel64 = inst
        .get_typed_func::<i64, i64>(&store, "sel_eqz64")
        .unwrap();
    assert_eq!(sel64.call(&mut store, 0).unwrap(), 1);
    // Only the upper half set: still not zero as an i64.
    assert_eq!(sel64.call(&mut store, 1 << 40).unwrap(), 2);
}

#[test]
fn fused_loop_counters() {
    let (mut store, inst) = setup();
    let call = |store: &mut Store<()>, name: &str, n: i32| {
        inst.get_typed_func::<i32, i32>(&*store, name)
            .unwrap()
            .call(store, n)
            .unwrap()
    };
    // i = 3, 6, 9, ... while i < n (unsigned)
    assert_eq!(call(&mut store, "count_lt_u", 10), 4);
    assert_eq!(call(&mut store, "count_lt_u", 0), 1);
    // -10 + 2k < n (signed): n = -4 stops at -4 after 3 steps
    assert_eq!(call(&mut store, "count_lt_s", -4), 3);
    assert_eq!(call(&mut store, "count_lt_s", 0), 5);
    // -2 + k != n
    assert_eq!(call(&mut store, "count_ne", 3), 5);
    // The increment on one path must not leak into the other.
    assert_eq!(call(&mut store, "join", 1), 200);
    assert_eq!(call(&mut store, "join", 0), 100);
}

/// Results the next instruction consumes pass through the executor's accumulator register;
/// these pin chains through it, results that must still reach their slot, and a join
/// point where the accumulator cannot be trusted.
const ACC_MODULE: &str = r#"(module
  (memory 1)
  ;; (a * b + c) ^ (a - c): chains with the accumulator on either side
  (func (export "chain") (param i64 i64 i64) (result i64)
    (i64.xor
      (i64.add (i64.mul (local.get 0) (local.get 1)) (local.get 2))
      (i64.sub (local.get 0) (local.get 2))))
  ;; the product is computed into the accumulator, then stored as a value, and a sum is the
  ;; address of a load whose result feeds a float conversion
  (func (export "store_load") (param i32 i32) (result f64)
    (i32.store (i32.const 64) (i32.mul (local.get 0) (local.get 1)))
    (f64.convert_i32_s (i32.load (i32.add (local.get 0) (i32.const 60)))))
  ;; floats through the accumulator: sqrt(a * a + b * b)
  (func (export "hypot") (param f64 f64) (result f64)
    (f64.sqrt (f64.add (f64.mul (local.get 0) (local.get 0))
                       (f64.mul (local.get 1) (local.get 1)))))
  ;; a trapping consumer of the accumulator: a / (b - 1)
  (func (export "div") (param i32 i32) (result i32)
    (i32.div_u (local.get 0) (i32.sub (local.get 1) (i32.const 1))))
  ;; a value produced in two arms and consumed after the join: the consumer is a jump target
  (func (export "join") (param i32 i32) (result i32)
    (i32.mul
      (if (result i32) (local.get 0)
        (then (i32.add (local.get 1) (i32.const 10)))
        (else (i32.sub (local.get 1) (i32.const 10))))
      (i32.const 3)))
  ;; a condition computed into the accumulator, a branch carrying a value, and a select
  (func (export "branchy") (param i32 i32) (result i32)
    (block $b (result i32)
      (drop (br_if $b (i32.add (local.get 0) (i32.const 100))
                      (i32.and (local.get 1) (i32.const 1))))
      (select (local.get 0) (local.get 1) (i32.gt_u (local.get 0) (local.get 1)))))
  ;; selects on a condition computed just before, also through eqz, into a local
  (func (export "sel_eqz") (param i32 i32) (result i32) (local i32)
    (local.set 2 (select (local.get 0) (local.get 1) (i32.eqz (i32.and (local.get 0) (i32.const 1)))))
    (i32.add (local.get 2)
      (select (i32.const 1000) (i32.const 2000) (i64.eqz (i64.extend_i32_u (local.get 1))))))
  ;; a tee keeps the value in a local as well
  (func (export "tee") (param i32) (result i32) (local i32)
    (i32.add (local.tee 1 (i32.mul (local.get 0) (i32.const 3))) (local.get 1))))"#;

#[test]
fn values_through_the_accumulator_keep_their_semantics() {
    for fuse in [true, false] {
        let mut config = common::config();
        config.fuse_instructions(fuse);
        let engine = Engine::new(&config);
        let module = Module::new(&engine, wat::parse_str(ACC_MODULE).unwrap()).unwrap();
        let mut store = Store::new(&engine, ());
        let inst = Linker::new(&engine)
            .instantiate(&mut store, &module)
            .unwrap();
        let chain = inst
            .get_typed_func::<(i64, i64, i64), i64>(&store, "chain")
            .unwrap();
        let (a, b, c) = (0x1234_5678_9abc_i64, -77, 5);
        let want = (a.wrapping_mul(b).wrapping_add(c)) ^ (a - c);
        assert_eq!(chain.call(&mut store, (a, b, c)).unwrap(), want);
        let store_load = inst
            .get_typed_func::<(i32, i32), f64>(&store, "store_load")
            .unwrap();
        assert_eq!(store_load.call(&mut store, (4, -6)).unwrap(), -24.0);
        let hypot = inst
            .get_typed_func::<(f64, f64), f64>(&store, "hypot")
            .unwrap();
        assert_eq!(hypot.call(&mut store, (3.0, 4.0)).unwrap(), 5.0);
        assert_eq!(call2(&mut store, inst, "div", 100, 5).unwrap(), 25);
        let err = call2(&mut store, inst, "div", 100, 1).unwrap_err();
        assert_eq!(err.trap_code(), Some(TrapCode::IntegerDivisionByZero));
        assert_eq!(call2(&mut store, inst, "join", 1, 5).unwrap(), 45);
        assert_eq!(call2(&mut store, inst, "join", 0, 5).unwrap(), -15);
        assert_eq!(call2(&mut store, inst, "branchy", 7, 3).unwrap(), 107);
        assert_eq!(call2(&mut store, inst, "branchy", 7, 2).unwrap(), 7);
        assert_eq!(call2(&mut store, inst, "branchy", 2, 8).unwrap(), 8);
        // 6 is even: a, and b is not zero: 2000.
        assert_eq!(call2(&mut store, inst, "sel_eqz", 6, 9).unwrap(), 2006);
        assert_eq!(call2(&mut store, inst, "sel_eqz", 7, 0).unwrap(), 1000);
        let tee = inst.get_typed_func::<i32, i32>(&store, "tee").unwrap();
        assert_eq!(tee.call(&mut store, 7).unwrap(), 42);
    }
}

/// Constant operands travel in the instruction when they fit; these pin the sign and
/// width rules: 32-bit operators take any 32-bit constant, 64-bit ones only constants
/// that sign-extend from 32 bits.
const IMM_MODULE: &str = r#"(module
  (memory 1)
  (func (export "and32") (param i32) (result i32) (i32.and (local.get 0) (i32.const -8)))
  (func (export "add64_big") (param i64) (result i64)
    (i64.add (local.get 0) (i64.const 0x100000000)))
  (func (export "add64_neg") (param i64) (result i64) (i64.add (local.get 0) (i64.const -5)))
  (func (export "and64_low") (param i64) (result i64)
    (i64.and (local.get 0) (i64.const 0xffffffff)))
  (func (export "lt64") (param i64) (result i32)
    (block $yes (br_if $yes (i64.lt_s (local.get 0) (i64.const -3))) (return (i32.const 0)))
    (i32.const 1))
  (func (export "stores") (result i64)
    (i64.store (i32.const 8) (i64.const -1))
    (i32.store8 (i32.const 8) (i32.const 0x1ab))
    (i64.store32 (i32.const 12) (i64.const 0x123456789))
    (i64.load (i32.const 8))))"#;

#[test]
fn immediates_keep_their_width_and_sign() {
    let engine = common::engine();
    let module = Module::new(&engine, wat::parse_str(IMM_MODULE).unwrap()).unwrap();
    let mut store = Store::new(&engine, ());
    let inst = Linker::new(&engine)
        .instantiate(&mut store, &module)
        .unwrap();
    let f32 = |store: &mut Store<()>, name: &str, x: i32| {
        let f = inst.get_typed_func::<i32, i32>(&*store, name).unwrap();
        f.call(store, x).unwrap()
    };
    let f64 = |store: &mut Store<()>, name: &str, x: i64| {
        let f = inst.get_typed_func::<i64, i64>(&*store, name).unwrap();
        f.call(store, x).unwrap()
    };
    assert_eq!(f32(&mut store, "and32", 0x7fff_ffff), 0x7fff_fff8);
    assert_eq!(f64(&mut store, "add64_big", 1), 0x1_0000_0001);
    assert_eq!(f64(&mut store, "add64_neg", 1), -4);
    assert_eq!(f64(&mut store, "and64_low", -1), 0xffff_ffff);
    let lt = inst.get_typed_func::<i64, i32>(&store, "lt64").unwrap();
    assert_eq!(lt.call(&mut store, -4).unwrap(), 1);
    assert_eq!(lt.call(&mut store, -3).unwrap(), 0);
    let stores = inst.get_typed_func::<(), i64>(&store, "stores").unwrap();
    assert_eq!(stores.call(&mut store, ()).unwrap(), 0x2345_6789_ffff_ffab);
}
