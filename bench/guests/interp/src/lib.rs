//! Branchy code: a small bytecode interpreter (a register machine with a `match` dispatch
//! loop) running a trial-division prime counter.

use bench_common::mix;

/// One instruction; registers are indices into the machine's eight registers, jump targets
/// are instruction indices.
#[derive(Clone, Copy)]
enum Op {
    Const(u8, i64),
    Add(u8, u8, u8),
    Mul(u8, u8, u8),
    Rem(u8, u8, u8),
    /// `dst = (a < b) as i64`.
    Lt(u8, u8, u8),
    Inc(u8),
    Jump(u32),
    JumpIfZero(u8, u32),
    JumpIfNonZero(u8, u32),
    Halt,
}

/// Runs `code` with `r0 = arg`; returns the registers at `Halt` and the number of
/// instructions executed.
fn execute(code: &[Op], arg: i64) -> ([i64; 8], u64) {
    let mut r = [0i64; 8];
    r[0] = arg;
    let mut pc = 0usize;
    let mut steps = 0u64;
    loop {
        steps += 1;
        let op = code[pc];
        pc += 1;
        match op {
            Op::Const(d, v) => r[d as usize] = v,
            Op::Add(d, a, b) => r[d as usize] = r[a as usize].wrapping_add(r[b as usize]),
            Op::Mul(d, a, b) => r[d as usize] = r[a as usize].wrapping_mul(r[b as usize]),
            Op::Rem(d, a, b) => {
                let b = r[b as usize];
                r[d as usize] = if b == 0 {
                    0
                } else {
                    r[a as usize].wrapping_rem(b)
                };
            }
            Op::Lt(d, a, b) => r[d as usize] = i64::from(r[a as usize] < r[b as usize]),
            Op::Inc(d) => r[d as usize] = r[d as usize].wrapping_add(1),
            Op::Jump(t) => pc = t as usize,
            Op::JumpIfZero(c, t) => {
                if r[c as usize] == 0 {
                    pc = t as usize;
                }
            }
            Op::JumpIfNonZero(c, t) => {
                if r[c as usize] != 0 {
                    pc = t as usize;
                }
            }
            Op::Halt => return (r, steps),
        }
    }
}

/// Counts (into r5) and sums (into r6) the primes below r0 by trial division.
fn prime_program() -> Vec<Op> {
    use Op::*;
    vec![
        Const(1, 2),          // 0: candidate = 2
        Const(5, 0),          // 1: count = 0
        Const(6, 0),          // 2: sum = 0
        Lt(7, 1, 0),          // 3: outer: candidate < limit?
        JumpIfZero(7, 17),    // 4: no: done
        Const(2, 2),          // 5: divisor = 2
        Mul(3, 2, 2),         // 6: inner: divisor^2
        Lt(7, 1, 3),          // 7: candidate < divisor^2?
        JumpIfNonZero(7, 13), // 8: yes: prime
        Rem(4, 1, 2),         // 9: candidate % divisor
        JumpIfZero(4, 15),    // 10: divides: not prime
        Inc(2),               // 11: next divisor
        Jump(6),              // 12
        Inc(5),               // 13: prime: count += 1
        Add(6, 6, 1),         // 14: sum += candidate
        Inc(1),               // 15: next candidate
        Jump(3),              // 16
        Halt,                 // 17
    ]
}

/// The workload: interprets the prime counter for the primes below `n`; the checksum
/// combines the count, the sum and the number of instructions executed.
pub fn run(n: u32) -> u64 {
    let code = prime_program();
    let (r, steps) = execute(&code, i64::from(n));
    mix(mix(r[5] as u64, r[6] as u64), steps)
}

bench_common::export_run!(crate::run);

#[cfg(test)]
mod tests {
    #[test]
    fn counts_primes() {
        let (r, _) = super::execute(&super::prime_program(), 100);
        assert_eq!((r[5], r[6]), (25, 1060));
    }
}
