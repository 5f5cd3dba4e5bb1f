//! Lowers a guest binary to what wasm3 0.4.7 (the C core inside the `wasm3` crate 0.3.x)
//! can load. Current Rust targets `wasm32-unknown-unknown` with features wasm3 predates:
//!
//! - `memory.copy` and `memory.fill` (bulk memory) become calls of two appended functions
//!   that do the same with 8-byte and then 1-byte loads and stores;
//! - the `DataCount` section (bulk memory) is dropped;
//! - `call_indirect`'s table index, which the linker pads to five bytes (reference types),
//!   is re-encoded as the single byte wasm3 expects;
//! - element segments in the "explicit table 0" encoding become the MVP encoding.
//!
//! Everything else is copied byte for byte. The other runtimes run the original binary.

use anyhow::{Context, Result, bail};
use wasmparser::{ElementItems, ElementKind, Operator, Parser, Payload, TypeRef};

/// The two helpers, both of type `[i32 i32 i32] -> []` and touching only memory 0, so their
/// bodies can be copied into any module with a memory.
const HELPERS_WAT: &str = r#"(module
  (memory 0)
  (func $copy (param $dst i32) (param $src i32) (param $len i32)
    (if (i32.gt_u (local.get $dst) (local.get $src))
      (then
        (block $done (loop $words
          (br_if $done (i32.lt_u (local.get $len) (i32.const 8)))
          (local.set $len (i32.sub (local.get $len) (i32.const 8)))
          (i64.store align=1 (i32.add (local.get $dst) (local.get $len))
            (i64.load align=1 (i32.add (local.get $src) (local.get $len))))
          (br $words)))
        (block $done (loop $bytes
          (br_if $done (i32.eqz (local.get $len)))
          (local.set $len (i32.sub (local.get $len) (i32.const 1)))
          (i32.store8 (i32.add (local.get $dst) (local.get $len))
            (i32.load8_u (i32.add (local.get $src) (local.get $len))))
          (br $bytes))))
      (else
        (block $done (loop $words
          (br_if $done (i32.lt_u (local.get $len) (i32.const 8)))
          (i64.store align=1 (local.get $dst) (i64.load align=1 (local.get $src)))
          (local.set $dst (i32.add (local.get $dst) (i32.const 8)))
          (local.set $src (i32.add (local.get $src) (i32.const 8)))
          (local.set $len (i32.sub (local.get $len) (i32.const 8)))
          (br $words)))
        (block $done (loop $bytes
          (br_if $done (i32.eqz (local.get $len)))
          (i32.store8 (local.get $dst) (i32.load8_u (local.get $src)))
          (local.set $dst (i32.add (local.get $dst) (i32.const 1)))
          (local.set $src (i32.add (local.get $src) (i32.const 1)))
          (local.set $len (i32.sub (local.get $len) (i32.const 1)))
          (br $bytes))))))
  (func $fill (param $dst i32) (param $val i32) (param $len i32) (local $word i64)
    (local.set $word
      (i64.mul (i64.extend_i32_u (i32.and (local.get $val) (i32.const 255)))
        (i64.const 0x0101010101010101)))
    (block $done (loop $words
      (br_if $done (i32.lt_u (local.get $len) (i32.const 8)))
      (i64.store align=1 (local.get $dst) (local.get $word))
      (local.set $dst (i32.add (local.get $dst) (i32.const 8)))
      (local.set $len (i32.sub (local.get $len) (i32.const 8)))
      (br $words)))
    (block $done (loop $bytes
      (br_if $done (i32.eqz (local.get $len)))
      (i32.store8 (local.get $dst) (local.get $val))
      (local.set $dst (i32.add (local.get $dst) (i32.const 1)))
      (local.set $len (i32.sub (local.get $len) (i32.const 1)))
      (br $bytes)))))"#;

/// The type of both helpers, `[i32 i32 i32] -> []`, as a type section entry.
const HELPER_TYPE: [u8; 6] = [0x60, 3, 0x7f, 0x7f, 0x7f, 0];

fn leb(out: &mut Vec<u8>, mut v: u32) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// The bytes of a vector's content after its leading count.
fn after_count(content: &[u8]) -> &[u8] {
    let len = content
        .iter()
        .position(|b| b & 0x80 == 0)
        .map_or(0, |i| i + 1);
    &content[len..]
}

/// The bytes of `wasm` in `range` (wasmparser counts offsets in `u64`).
fn bytes<T: TryInto<usize> + Copy>(wasm: &[u8], range: std::ops::Range<T>) -> &[u8] {
    let at = |v: T| v.try_into().unwrap_or(usize::MAX);
    &wasm[at(range.start)..at(range.end)]
}

fn section(out: &mut Vec<u8>, id: u8, content: &[u8]) {
    out.push(id);
    leb(out, content.len() as u32);
    out.extend_from_slice(content);
}

/// The raw bodies (locals and code, without the size prefix) of the helpers.
fn helper_bodies() -> Result<Vec<Vec<u8>>> {
    let wasm = wat::parse_str(HELPERS_WAT)?;
    let mut bodies = Vec::new();
    for payload in Parser::new(0).parse_all(&wasm) {
        if let Payload::CodeSectionEntry(body) = payload? {
            bodies.push(bytes(&wasm, body.range()).to_vec());
        }
    }
    Ok(bodies)
}

/// `wasm`, lowered for wasm3 as described in the module documentation.
pub fn lower(wasm: &[u8]) -> Result<Vec<u8>> {
    // First pass: where the helpers' type and functions will go.
    let (mut types, mut imported_funcs, mut funcs, mut memory) = (None, 0, None, false);
    for payload in Parser::new(0).parse_all(wasm) {
        match payload? {
            Payload::TypeSection(r) => types = Some(r.count()),
            Payload::ImportSection(r) => {
                for import in r.into_imports() {
                    match import?.ty {
                        TypeRef::Func(_) => imported_funcs += 1,
                        TypeRef::Memory(_) => memory = true,
                        _ => {}
                    }
                }
            }
            Payload::FunctionSection(r) => funcs = Some(r.count()),
            Payload::MemorySection(r) => memory |= r.count() > 0,
            _ => {}
        }
    }
    let helpers = match (types, funcs) {
        (Some(types), Some(funcs)) if memory => {
            Some((types, imported_funcs + funcs, imported_funcs + funcs + 1))
        }
        _ => None,
    };

    let mut out = wasm[..8].to_vec();
    let mut code = Vec::new();
    let mut code_left = 0;
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload?;
        match &payload {
            Payload::TypeSection(r) if helpers.is_some() => {
                let mut content = Vec::new();
                leb(&mut content, r.count() + 1);
                content.extend_from_slice(after_count(bytes(wasm, r.range())));
                content.extend_from_slice(&HELPER_TYPE);
                section(&mut out, 1, &content);
            }
            Payload::FunctionSection(r) => {
                let mut content = Vec::new();
                match helpers {
                    Some((ty, _, _)) => {
                        leb(&mut content, r.count() + 2);
                        content.extend_from_slice(after_count(bytes(wasm, r.range())));
                        leb(&mut content, ty);
                        leb(&mut content, ty);
                    }
                    None => content.extend_from_slice(bytes(wasm, r.range())),
                }
                section(&mut out, 3, &content);
            }
            Payload::ElementSection(r) => {
                let mut content = Vec::new();
                leb(&mut content, r.count());
                for element in r.clone() {
                    let element = element?;
                    let ElementKind::Active {
                        table_index: None | Some(0),
                        offset_expr,
                    } = &element.kind
                    else {
                        bail!("wasm3 lowering: unsupported element segment");
                    };
                    let ElementItems::Functions(items) = &element.items else {
                        bail!("wasm3 lowering: unsupported element segment");
                    };
                    content.push(0);
                    let mut offset = offset_expr.get_binary_reader();
                    let start = offset.original_position();
                    while !offset.eof() {
                        offset.read_u8()?;
                    }
                    content.extend_from_slice(bytes(wasm, start..offset.original_position()));
                    leb(&mut content, items.count());
                    for func in items.clone() {
                        leb(&mut content, func?);
                    }
                }
                section(&mut out, 9, &content);
            }
            Payload::DataCountSection { .. } => {}
            Payload::CodeSectionStart { count, .. } => {
                leb(&mut code, count + if helpers.is_some() { 2 } else { 0 });
                code_left = *count;
            }
            Payload::CodeSectionEntry(body) => {
                let mut new = Vec::new();
                let mut ops = body.get_operators_reader()?;
                let code_start = ops.original_position();
                new.extend_from_slice(bytes(wasm, body.range().start..code_start));
                while !ops.eof() {
                    let start = ops.original_position();
                    let op = ops.read()?;
                    let end = ops.original_position();
                    match (op, helpers) {
                        (Operator::MemoryCopy { .. }, Some((_, copy, _))) => {
                            new.push(0x10);
                            leb(&mut new, copy);
                        }
                        (Operator::MemoryFill { .. }, Some((_, _, fill))) => {
                            new.push(0x10);
                            leb(&mut new, fill);
                        }
                        (
                            Operator::CallIndirect {
                                type_index,
                                table_index,
                            },
                            _,
                        ) => {
                            new.push(0x11);
                            leb(&mut new, type_index);
                            leb(&mut new, table_index);
                        }
                        _ => new.extend_from_slice(bytes(wasm, start..end)),
                    }
                }
                leb(&mut code, new.len() as u32);
                code.extend_from_slice(&new);
                code_left -= 1;
                if code_left == 0 {
                    if helpers.is_some() {
                        for body in helper_bodies()? {
                            leb(&mut code, body.len() as u32);
                            code.extend_from_slice(&body);
                        }
                    }
                    section(&mut out, 10, &code);
                }
            }
            Payload::End(_) | Payload::Version { .. } => {}
            other => {
                let (id, range) = other
                    .as_section()
                    .context("wasm3 lowering: unexpected payload")?;
                section(&mut out, id, bytes(wasm, range));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::lower;

    /// The lowered module validates and computes the same as the original on weft.
    #[test]
    fn lowered_bulk_memory_behaves_the_same() {
        let wat = r#"(module
          (memory (export "memory") 1)
          (data (i32.const 0) "0123456789abcdefghijklmnopqrstuvwxyz")
          (func (export "run") (result i64)
            (memory.copy (i32.const 3) (i32.const 0) (i32.const 30))
            (memory.copy (i32.const 40) (i32.const 50) (i32.const 0))
            (memory.copy (i32.const 1) (i32.const 5) (i32.const 20))
            (memory.fill (i32.const 25) (i32.const 0x141) (i32.const 11))
            (i64.xor (i64.load (i32.const 0))
              (i64.xor (i64.load (i32.const 8))
                (i64.xor (i64.load (i32.const 16)) (i64.load (i32.const 28)))))))"#;
        let original = wat::parse_str(wat).unwrap();
        let lowered = lower(&original).unwrap();
        let run = |wasm: &[u8]| {
            use weft_engine::*;
            let engine = Engine::default();
            let module = Module::new(&engine, wasm).unwrap();
            let mut store = Store::new(&engine, ());
            let instance = Linker::new(&engine)
                .instantiate(&mut store, &module)
                .unwrap();
            let run = instance.get_typed_func::<(), i64>(&store, "run").unwrap();
            run.call(&mut store, ()).unwrap()
        };
        assert_eq!(run(&original), run(&lowered));
        // No bulk memory, no data count section, no reference-types encodings left.
        let mut validator = wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::MVP);
        validator.validate_all(&lowered).unwrap();
    }
}
