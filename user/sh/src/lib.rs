//! The pure parts of weft's shell, kept apart from the system calls so they can be tested on
//! the host: [`syntax`] (the command language) and [`expand`] (variables, quotes, fields).

pub mod expand;
pub mod syntax;
