//! Prints what the program was given at start: its arguments, `argv[0]` too, in brackets
//! so spaces and empty arguments show; every environment variable sorted; and
//! `WEFT_GREETING` and `PATH` looked up by name (PATH shows that the host's environment
//! does not leak in).
//! The same output as the C program `args`.

use std::env;

fn print_var(name: &str) {
    match env::var(name) {
        Ok(value) => println!("getenv({name})=[{value}]"),
        Err(_) => println!("getenv({name})=(null)"),
    }
}

fn main() {
    let args: Vec<String> = env::args().collect();
    println!("argc={}", args.len());
    for (i, arg) in args.iter().enumerate() {
        println!("argv[{i}]=[{arg}]");
    }
    let mut vars: Vec<String> = env::vars().map(|(k, v)| format!("{k}={v}")).collect();
    vars.sort();
    println!("environ count={}", vars.len());
    for (i, var) in vars.iter().enumerate() {
        println!("environ[{i}]=[{var}]");
    }
    print_var("WEFT_GREETING");
    print_var("PATH");
}
