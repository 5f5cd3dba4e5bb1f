//! `true`: does nothing, successfully (status 0).

fn main() {}
