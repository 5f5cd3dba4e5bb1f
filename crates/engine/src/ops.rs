//! Numeric semantics of WebAssembly instructions on raw slot values.
//!
//! Each function takes and returns the executor's raw `u64` slot encoding (see
//! [`crate::value`]): 32-bit values are read from the low half and written zero-extended.
//! Fallible operations return the [`TrapCode`] the spec prescribes.

use crate::error::TrapCode;

type R = Result<u64, TrapCode>;

#[inline(always)]
fn i32v(x: u64) -> i32 {
    x as u32 as i32
}
#[inline(always)]
fn u32v(x: u64) -> u32 {
    x as u32
}
#[inline(always)]
fn f32v(x: u64) -> f32 {
    f32::from_bits(x as u32)
}
#[inline(always)]
fn f64v(x: u64) -> f64 {
    f64::from_bits(x)
}
#[inline(always)]
fn from_i32(v: i32) -> u64 {
    v as u32 as u64
}
#[inline(always)]
fn from_f32(v: f32) -> u64 {
    v.to_bits() as u64
}
#[inline(always)]
fn from_f64(v: f64) -> u64 {
    v.to_bits()
}
#[inline(always)]
fn from_bool(b: bool) -> u64 {
    b as u64
}

macro_rules! unary {
    ($($name:ident($a:ident) $body:expr;)*) => {
        $(#[inline(always)] pub(crate) fn $name($a: u64) -> u64 { $body })*
    };
}
macro_rules! binary {
    ($($name:ident($a:ident, $b:ident) $body:expr;)*) => {
        $(#[inline(always)] pub(crate) fn $name($a: u64, $b: u64) -> u64 { $body })*
    };
}

unary! {
    i32_eqz(a) from_bool(u32v(a) == 0);
    i64_eqz(a) from_bool(a == 0);
    i32_clz(a) u32v(a).leading_zeros() as u64;
    i32_ctz(a) u32v(a).trailing_zeros() as u64;
    i32_popcnt(a) u32v(a).count_ones() as u64;
    i64_clz(a) a.leading_zeros() as u64;
    i64_ctz(a) a.trailing_zeros() as u64;
    i64_popcnt(a) a.count_ones() as u64;

    f32_abs(a) (a as u32 & 0x7fff_ffff) as u64;
    f32_neg(a) (a as u32 ^ 0x8000_0000) as u64;
    f32_ceil(a) from_f32(quiet32(libm::ceilf, f32v(a)));
    f32_floor(a) from_f32(quiet32(libm::floorf, f32v(a)));
    f32_trunc(a) from_f32(quiet32(libm::truncf, f32v(a)));
    f32_nearest(a) from_f32(quiet32(libm::rintf, f32v(a)));
    f32_sqrt(a) from_f32(quiet32(libm::sqrtf, f32v(a)));
    f64_abs(a) a & 0x7fff_ffff_ffff_ffff;
    f64_neg(a) a ^ 0x8000_0000_0000_0000;
    f64_ceil(a) from_f64(quiet64(libm::ceil, f64v(a)));
    f64_floor(a) from_f64(quiet64(libm::floor, f64v(a)));
    f64_trunc(a) from_f64(quiet64(libm::trunc, f64v(a)));
    f64_nearest(a) from_f64(quiet64(libm::rint, f64v(a)));
    f64_sqrt(a) from_f64(quiet64(libm::sqrt, f64v(a)));

    i32_wrap_i64(a) a as u32 as u64;
    i64_extend_i32_s(a) i32v(a) as i64 as u64;
    i64_extend_i32_u(a) u32v(a) as u64;
    i32_extend8_s(a) from_i32(a as i8 as i32);
    i32_extend16_s(a) from_i32(a as i16 as i32);
    i64_extend8_s(a) a as i8 as i64 as u64;
    i64_extend16_s(a) a as i16 as i64 as u64;
    i64_extend32_s(a) a as i32 as i64 as u64;

    f32_convert_i32_s(a) from_f32(i32v(a) as f32);
    f32_convert_i32_u(a) from_f32(u32v(a) as f32);
    f32_convert_i64_s(a) from_f32(a as i64 as f32);
    f32_convert_i64_u(a) from_f32(a as f32);
    f64_convert_i32_s(a) from_f64(i32v(a) as f64);
    f64_convert_i32_u(a) from_f64(u32v(a) as f64);
    f64_convert_i64_s(a) from_f64(a as i64 as f64);
    f64_convert_i64_u(a) from_f64(a as f64);
    f32_demote_f64(a) from_f32(demote(f64v(a)));
    f64_promote_f32(a) from_f64(promote(f32v(a)));

    // Saturating conversions: Rust's `as` saturates and maps NaN to 0, exactly as Wasm does.
    i32_trunc_sat_f32_s(a) from_i32(f32v(a) as i32);
    i32_trunc_sat_f32_u(a) (f32v(a) as u32) as u64;
    i32_trunc_sat_f64_s(a) from_i32(f64v(a) as i32);
    i32_trunc_sat_f64_u(a) (f64v(a) as u32) as u64;
    i64_trunc_sat_f32_s(a) f32v(a) as i64 as u64;
    i64_trunc_sat_f32_u(a) f32v(a) as u64;
    i64_trunc_sat_f64_s(a) f64v(a) as i64 as u64;
    i64_trunc_sat_f64_u(a) f64v(a) as u64;

    ref_is_null(a) from_bool(a == 0);
}

/// Applies a libm rounding function, quieting a NaN input as Wasm's arithmetic-NaN rule
/// requires (libm passes signaling NaNs through unchanged).
#[inline(always)]
fn quiet32(f: fn(f32) -> f32, x: f32) -> f32 {
    if x.is_nan() {
        f32::from_bits(x.to_bits() | 0x0040_0000)
    } else {
        f(x)
    }
}

#[inline(always)]
fn quiet64(f: fn(f64) -> f64, x: f64) -> f64 {
    if x.is_nan() {
        f64::from_bits(x.to_bits() | 0x0008_0000_0000_0000)
    } else {
        f(x)
    }
}

/// `f64 -> f32`, with NaNs made quiet as the spec's arithmetic NaN rule requires.
fn demote(x: f64) -> f32 {
    if x.is_nan() {
        f32::from_bits((x as f32).to_bits() | 0x0040_0000)
    } else {
        x as f32
    }
}

/// `f32 -> f64`, with NaNs made quiet.
fn promote(x: f32) -> f64 {
    if x.is_nan() {
        f64::from_bits((x as f64).to_bits() | 0x0008_0000_0000_0000)
    } else {
        x as f64
    }
}

binary! {
    i32_eq(a, b) from_bool(u32v(a) == u32v(b));
    i32_ne(a, b) from_bool(u32v(a) != u32v(b));
    i32_lt_s(a, b) from_bool(i32v(a) < i32v(b));
    i32_lt_u(a, b) from_bool(u32v(a) < u32v(b));
    i32_gt_s(a, b) from_bool(i32v(a) > i32v(b));
    i32_gt_u(a, b) from_bool(u32v(a) > u32v(b));
    i32_le_s(a, b) from_bool(i32v(a) <= i32v(b));
    i32_le_u(a, b) from_bool(u32v(a) <= u32v(b));
    i32_ge_s(a, b) from_bool(i32v(a) >= i32v(b));
    i32_ge_u(a, b) from_bool(u32v(a) >= u32v(b));
    i64_eq(a, b) from_bool(a == b);
    i64_ne(a, b) from_bool(a != b);
    i64_lt_s(a, b) from_bool((a as i64) < (b as i64));
    i64_lt_u(a, b) from_bool(a < b);
    i64_gt_s(a, b) from_bool((a as i64) > (b as i64));
    i64_gt_u(a, b) from_bool(a > b);
    i64_le_s(a, b) from_bool((a as i64) <= (b as i64));
    i64_le_u(a, b) from_bool(a <= b);
    i64_ge_s(a, b) from_bool((a as i64) >= (b as i64));
    i64_ge_u(a, b) from_bool(a >= b);
    f32_eq(a, b) from_bool(f32v(a) == f32v(b));
    f32_ne(a, b) from_bool(f32v(a) != f32v(b));
    f32_lt(a, b) from_bool(f32v(a) < f32v(b));
    f32_gt(a, b) from_bool(f32v(a) > f32v(b));
    f32_le(a, b) from_bool(f32v(a) <= f32v(b));
    f32_ge(a, b) from_bool(f32v(a) >= f32v(b));
    f64_eq(a, b) from_bool(f64v(a) == f64v(b));
    f64_ne(a, b) from_bool(f64v(a) != f64v(b));
    f64_lt(a, b) from_bool(f64v(a) < f64v(b));
    f64_gt(a, b) from_bool(f64v(a) > f64v(b));
    f64_le(a, b) from_bool(f64v(a) <= f64v(b));
    f64_ge(a, b) from_bool(f64v(a) >= f64v(b));

    i32_add(a, b) from_i32(i32v(a).wrapping_add(i32v(b)));
    i32_sub(a, b) from_i32(i32v(a).wrapping_sub(i32v(b)));
    i32_mul(a, b) from_i32(i32v(a).wrapping_mul(i32v(b)));
    i32_and(a, b) (u32v(a) & u32v(b)) as u64;
    i32_or(a, b) (u32v(a) | u32v(b)) as u64;
    i32_xor(a, b) (u32v(a) ^ u32v(b)) as u64;
    i32_shl(a, b) u32v(a).wrapping_shl(u32v(b)) as u64;
    i32_shr_s(a, b) from_i32(i32v(a).wrapping_shr(u32v(b)));
    i32_shr_u(a, b) u32v(a).wrapping_shr(u32v(b)) as u64;
    i32_rotl(a, b) u32v(a).rotate_left(u32v(b) & 31) as u64;
    i32_rotr(a, b) u32v(a).rotate_right(u32v(b) & 31) as u64;
    i64_add(a, b) a.wrapping_add(b);
    i64_sub(a, b) a.wrapping_sub(b);
    i64_mul(a, b) a.wrapping_mul(b);
    i64_and(a, b) a & b;
    i64_or(a, b) a | b;
    i64_xor(a, b) a ^ b;
    i64_shl(a, b) a.wrapping_shl(b as u32);
    i64_shr_s(a, b) (a as i64).wrapping_shr(b as u32) as u64;
    i64_shr_u(a, b) a.wrapping_shr(b as u32);
    i64_rotl(a, b) a.rotate_left((b & 63) as u32);
    i64_rotr(a, b) a.rotate_right((b & 63) as u32);

    f32_add(a, b) from_f32(f32v(a) + f32v(b));
    f32_sub(a, b) from_f32(f32v(a) - f32v(b));
    f32_mul(a, b) from_f32(f32v(a) * f32v(b));
    f32_div(a, b) from_f32(f32v(a) / f32v(b));
    f32_min(a, b) from_f32(fmin32(f32v(a), f32v(b)));
    f32_max(a, b) from_f32(fmax32(f32v(a), f32v(b)));
    f32_copysign(a, b) ((a as u32 & 0x7fff_ffff) | (b as u32 & 0x8000_0000)) as u64;
    f64_add(a, b) from_f64(f64v(a) + f64v(b));
    f64_sub(a, b) from_f64(f64v(a) - f64v(b));
    f64_mul(a, b) from_f64(f64v(a) * f64v(b));
    f64_div(a, b) from_f64(f64v(a) / f64v(b));
    f64_min(a, b) from_f64(fmin64(f64v(a), f64v(b)));
    f64_max(a, b) from_f64(fmax64(f64v(a), f64v(b)));
    f64_copysign(a, b) (a & 0x7fff_ffff_ffff_ffff) | (b & 0x8000_0000_0000_0000);
}

macro_rules! minmax {
    ($min:ident, $max:ident, $t:ty) => {
        /// Wasm `min`: NaN if either operand is NaN, and `-0 < +0`.
        fn $min(a: $t, b: $t) -> $t {
            if a.is_nan() || b.is_nan() {
                return a + b;
            }
            if a == b {
                // Equal, possibly zeros of different sign: prefer the negative one.
                return <$t>::from_bits(a.to_bits() | b.to_bits());
            }
            if a < b { a } else { b }
        }

        /// Wasm `max`: NaN if either operand is NaN, and `+0 > -0`.
        fn $max(a: $t, b: $t) -> $t {
            if a.is_nan() || b.is_nan() {
                return a + b;
            }
            if a == b {
                return <$t>::from_bits(a.to_bits() & b.to_bits());
            }
            if a > b { a } else { b }
        }
    };
}
minmax!(fmin32, fmax32, f32);
minmax!(fmin64, fmax64, f64);

#[inline(always)]
pub(crate) fn i32_div_s(a: u64, b: u64) -> R {
    let (a, b) = (i32v(a), i32v(b));
    if b == 0 {
        return Err(TrapCode::IntegerDivisionByZero);
    }
    a.checked_div(b)
        .map(from_i32)
        .ok_or(TrapCode::IntegerOverflow)
}
#[inline(always)]
pub(crate) fn i32_div_u(a: u64, b: u64) -> R {
    u32v(a)
        .checked_div(u32v(b))
        .map(u64::from)
        .ok_or(TrapCode::IntegerDivisionByZero)
}
#[inline(always)]
pub(crate) fn i32_rem_s(a: u64, b: u64) -> R {
    let (a, b) = (i32v(a), i32v(b));
    if b == 0 {
        return Err(TrapCode::IntegerDivisionByZero);
    }
    Ok(from_i32(a.wrapping_rem(b)))
}
#[inline(always)]
pub(crate) fn i32_rem_u(a: u64, b: u64) -> R {
    u32v(a)
        .checked_rem(u32v(b))
        .map(u64::from)
        .ok_or(TrapCode::IntegerDivisionByZero)
}
#[inline(always)]
pub(crate) fn i64_div_s(a: u64, b: u64) -> R {
    let (a, b) = (a as i64, b as i64);
    if b == 0 {
        return Err(TrapCode::IntegerDivisionByZero);
    }
    a.checked_div(b)
        .map(|v| v as u64)
        .ok_or(TrapCode::IntegerOverflow)
}
#[inline(always)]
pub(crate) fn i64_div_u(a: u64, b: u64) -> R {
    a.checked_div(b).ok_or(TrapCode::IntegerDivisionByZero)
}
#[inline(always)]
pub(crate) fn i64_rem_s(a: u64, b: u64) -> R {
    let (a, b) = (a as i64, b as i64);
    if b == 0 {
        return Err(TrapCode::IntegerDivisionByZero);
    }
    Ok(a.wrapping_rem(b) as u64)
}
#[inline(always)]
pub(crate) fn i64_rem_u(a: u64, b: u64) -> R {
    a.checked_rem(b).ok_or(TrapCode::IntegerDivisionByZero)
}

/// Trapping float-to-int truncation: NaN is an invalid conversion, and a value whose
/// truncation lies outside `(lo, hi)` (exclusive bounds, exact in the float type)
/// overflows.
macro_rules! trunc {
    ($name:ident, $src:ident, $ft:ty, $it:ty, $lo:expr, $hi:expr, $enc:expr) => {
        #[inline(always)]
        pub(crate) fn $name(a: u64) -> R {
            let x: $ft = $src(a);
            if x.is_nan() {
                return Err(TrapCode::BadConversionToInteger);
            }
            if !(x > $lo && x < $hi) {
                return Err(TrapCode::IntegerOverflow);
            }
            let enc: fn($it) -> u64 = $enc;
            Ok(enc(x as $it))
        }
    };
}
trunc!(
    i32_trunc_f32_s,
    f32v,
    f32,
    i32,
    -2147483904.0,
    2147483648.0,
    from_i32
);
trunc!(
    i32_trunc_f32_u,
    f32v,
    f32,
    u32,
    -1.0,
    4294967296.0,
    u64::from
);
trunc!(
    i32_trunc_f64_s,
    f64v,
    f64,
    i32,
    -2147483649.0,
    2147483648.0,
    from_i32
);
trunc!(
    i32_trunc_f64_u,
    f64v,
    f64,
    u32,
    -1.0,
    4294967296.0,
    u64::from
);
trunc!(
    i64_trunc_f32_s,
    f32v,
    f32,
    i64,
    -9223373136366403584.0,
    9223372036854775808.0,
    |v| v as u64
);
trunc!(
    i64_trunc_f32_u,
    f32v,
    f32,
    u64,
    -1.0,
    18446744073709551616.0,
    |v| v
);
trunc!(
    i64_trunc_f64_s,
    f64v,
    f64,
    i64,
    -9223372036854777856.0,
    9223372036854775808.0,
    |v| v as u64
);
trunc!(
    i64_trunc_f64_u,
    f64v,
    f64,
    u64,
    -1.0,
    18446744073709551616.0,
    |v| v
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_max_signed_zero_and_nan() {
        assert_eq!(fmin32(0.0, -0.0).to_bits(), (-0.0f32).to_bits());
        assert_eq!(fmax32(-0.0, 0.0).to_bits(), 0.0f32.to_bits());
        assert!(fmin64(f64::NAN, 1.0).is_nan());
        assert!(fmax64(1.0, f64::NAN).is_nan());
    }

    #[test]
    fn trapping_truncation_bounds() {
        assert_eq!(
            i32_trunc_f32_s(from_f32(-2147483648.0)),
            Ok(from_i32(i32::MIN))
        );
        assert_eq!(
            i32_trunc_f32_s(from_f32(2147483648.0)),
            Err(TrapCode::IntegerOverflow)
        );
        assert_eq!(i32_trunc_f64_u(from_f64(-0.9)), Ok(0));
        assert_eq!(
            i32_trunc_f64_u(from_f64(-1.0)),
            Err(TrapCode::IntegerOverflow)
        );
        assert_eq!(
            i64_trunc_f64_s(from_f64(f64::NAN)),
            Err(TrapCode::BadConversionToInteger)
        );
    }

    #[test]
    fn division_traps() {
        assert_eq!(
            i32_div_s(from_i32(i32::MIN), from_i32(-1)),
            Err(TrapCode::IntegerOverflow)
        );
        assert_eq!(i32_rem_s(from_i32(i32::MIN), from_i32(-1)), Ok(0));
        assert_eq!(i64_div_u(1, 0), Err(TrapCode::IntegerDivisionByZero));
    }
}
