//! The wasm-smith configuration of weft's differential checks: the engine's differential
//! test (`tests/differential.rs`) and the `differential` fuzz target (which includes this
//! file by path) generate the same kind of module.

/// A wasm-smith configuration for what the engine implements: WebAssembly 2.0 without SIMD,
/// one memory, no imports.
pub fn smith_config() -> wasm_smith::Config {
    wasm_smith::Config {
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
    }
}
