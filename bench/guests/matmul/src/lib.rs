//! Matrix multiplication in `f64`: the straightforward triple loop (i-k-j order) over
//! row-major `n x n` matrices.

use bench_common::Rng;

/// `c = a * b` for row-major `n x n` matrices.
fn multiply(n: usize, a: &[f64], b: &[f64], c: &mut [f64]) {
    c.fill(0.0);
    for i in 0..n {
        let row = &mut c[i * n..(i + 1) * n];
        for k in 0..n {
            let aik = a[i * n + k];
            let bk = &b[k * n..(k + 1) * n];
            for (cij, bkj) in row.iter_mut().zip(bk) {
                *cij += aik * bkj;
            }
        }
    }
}

/// The workload: multiplies two random `n x n` matrices; the checksum is the bit pattern of
/// the sum of the product's entries (exact: Wasm floats are IEEE 754, no fused operations).
pub fn run(n: u32) -> u64 {
    let n = n as usize;
    let mut rng = Rng::new(0x5eed_0002);
    let a: Vec<f64> = (0..n * n).map(|_| rng.next_f64() - 0.5).collect();
    let b: Vec<f64> = (0..n * n).map(|_| rng.next_f64() - 0.5).collect();
    let mut c = vec![0.0; n * n];
    multiply(n, &a, &b, &mut c);
    c.iter().sum::<f64>().to_bits()
}

bench_common::export_run!(crate::run);
