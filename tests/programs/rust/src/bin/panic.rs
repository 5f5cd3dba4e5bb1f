//! Prints a line, then panics. Built with `panic = "abort"`, the panic message goes to
//! stderr and the process aborts, which on wasm32-wasip1 is the `unreachable` trap.

fn main() {
    println!("before panic");
    let args = std::env::args().count();
    panic!("deliberate panic with {args} argument(s)");
}
