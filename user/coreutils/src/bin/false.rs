//! `false`: does nothing, unsuccessfully (status 1).

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::FAILURE
}
