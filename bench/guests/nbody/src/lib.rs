//! Floating point: an n-body simulation (a heavy central body and eight light ones in
//! roughly circular orbits), advanced with symplectic Euler steps.

use bench_common::Rng;

const BODIES: usize = 9;
const DT: f64 = 0.001;

#[derive(Clone, Copy)]
struct Body {
    pos: [f64; 3],
    vel: [f64; 3],
    mass: f64,
}

fn initial() -> [Body; BODIES] {
    let mut rng = Rng::new(0x5eed_0003);
    let mut bodies = [Body {
        pos: [0.0; 3],
        vel: [0.0; 3],
        mass: 1000.0,
    }; BODIES];
    for (i, b) in bodies.iter_mut().enumerate().skip(1) {
        let r = 2.0 + i as f64 + rng.next_f64();
        let speed = (1000.0 / r).sqrt();
        let tilt = 0.05 * (rng.next_f64() - 0.5);
        b.pos = [r, 0.0, tilt * r];
        b.vel = [0.0, speed, 0.0];
        b.mass = 0.1 + rng.next_f64();
        if i % 2 == 0 {
            b.pos[0] = -r;
            b.vel[1] = -speed;
        }
    }
    bodies
}

fn advance(bodies: &mut [Body; BODIES]) {
    for i in 0..BODIES {
        for j in i + 1..BODIES {
            let d = [
                bodies[i].pos[0] - bodies[j].pos[0],
                bodies[i].pos[1] - bodies[j].pos[1],
                bodies[i].pos[2] - bodies[j].pos[2],
            ];
            let d2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
            let mag = DT / (d2 * d2.sqrt());
            let (mi, mj) = (bodies[i].mass * mag, bodies[j].mass * mag);
            for (k, dk) in d.iter().enumerate() {
                bodies[i].vel[k] -= dk * mj;
                bodies[j].vel[k] += dk * mi;
            }
        }
    }
    for b in bodies.iter_mut() {
        for (p, v) in b.pos.iter_mut().zip(b.vel) {
            *p += DT * v;
        }
    }
}

fn energy(bodies: &[Body; BODIES]) -> f64 {
    let mut e = 0.0;
    for (i, b) in bodies.iter().enumerate() {
        e += 0.5 * b.mass * (b.vel[0] * b.vel[0] + b.vel[1] * b.vel[1] + b.vel[2] * b.vel[2]);
        for c in &bodies[i + 1..] {
            let d = [
                b.pos[0] - c.pos[0],
                b.pos[1] - c.pos[1],
                b.pos[2] - c.pos[2],
            ];
            e -= b.mass * c.mass / (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt();
        }
    }
    e
}

/// The workload: `n` time steps; the checksum is the bit pattern of the final energy.
pub fn run(n: u32) -> u64 {
    let mut bodies = initial();
    for _ in 0..n {
        advance(&mut bodies);
    }
    energy(&bodies).to_bits()
}

bench_common::export_run!(crate::run);
