//! The terminal table and the JSON file of a benchmark run.

use crate::bench::{NATIVE, Results, WorkloadResult};
use crate::os::OsResults;
use anyhow::{Context, Result};
use serde_json::{Map, Value, json};
use std::fmt::Write;
use std::path::Path;

/// `seconds` with about three significant digits.
fn secs(seconds: f64) -> String {
    if seconds >= 10.0 {
        format!("{seconds:.1}s")
    } else if seconds >= 1.0 {
        format!("{seconds:.2}s")
    } else if seconds >= 0.1 {
        format!("{seconds:.3}s")
    } else if seconds >= 0.01 {
        format!("{seconds:.4}s")
    } else {
        format!("{seconds:.5}s")
    }
}

/// A ratio like `1.00x`, with more digits when small.
pub fn ratio(r: f64) -> String {
    if r >= 100.0 {
        format!("{r:.0}x")
    } else if r >= 0.1 {
        format!("{r:.2}x")
    } else {
        format!("{r:.3}x")
    }
}

/// The geometric mean over the workloads both ran of `time(runtime) / time(weft)`.
pub fn geomean_vs_weft(results: &Results, runtime: &str) -> Option<f64> {
    let ratios: Vec<f64> = results
        .workloads
        .iter()
        .filter_map(|w| Some(w.time(runtime)? / w.time("weft")?))
        .collect();
    if ratios.is_empty() {
        return None;
    }
    Some((ratios.iter().map(|r| r.ln()).sum::<f64>() / ratios.len() as f64).exp())
}

fn cell(w: &WorkloadResult, runtime: &str) -> String {
    match (w.time(runtime), w.time("weft")) {
        (Some(t), Some(weft)) => format!("{} ({})", secs(t), ratio(t / weft)),
        (Some(t), None) => secs(t),
        (None, _) => "-".into(),
    }
}

/// Lays out rows of cells in aligned columns (the first left-aligned, the rest right).
fn columns(rows: &[Vec<String>]) -> String {
    let width = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..width)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, c) in row.iter().enumerate() {
            let pad = widths[i] - c.chars().count();
            if i == 0 {
                line.push_str(c);
                line.push_str(&" ".repeat(pad));
            } else {
                line.push_str("  ");
                line.push_str(&" ".repeat(pad));
                line.push_str(c);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The end-of-run summary: workload times with ratios to weft, the geometric means, the
/// startup costs, the call costs and the operating-system measurements.
pub fn table(results: &Results) -> String {
    let mut out = String::new();
    if !results.workloads.is_empty() {
        out.push_str(&engine_table(results));
    }
    if let Some(os) = &results.os {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&os_table(os, results.runs));
    }
    out
}

/// The operating-system measurements, weft next to Linux.
fn os_table(os: &OsResults, runs: usize) -> String {
    let mut rows = vec![vec![
        "operating system".to_string(),
        "n".to_string(),
        "weft".to_string(),
        "linux".to_string(),
        "weft/linux".to_string(),
    ]];
    for m in &os.measures {
        rows.push(vec![
            m.label.to_string(),
            m.n.to_string(),
            format!("{:.1}", m.weft),
            format!("{:.1}", m.linux),
            ratio(m.weft / m.linux),
        ]);
    }
    let mut out = format!(
        "median of {runs} runs; weft: wall time of the whole kernel run / n; linux: the same \
         on this machine\n\n"
    );
    out.push_str(&columns(&rows));
    let _ = writeln!(out, "\nlinux spawns {}", os.linux_spawn_binary);
    out
}

/// The workload table, the geometric means, and the startup and call costs.
fn engine_table(results: &Results) -> String {
    let mut rows = vec![];
    let mut header = vec!["workload".to_string(), "n".to_string()];
    header.extend(results.runtimes.iter().map(|r| r.to_string()));
    rows.push(header);
    for w in &results.workloads {
        let mut row = vec![w.workload.name.to_string(), w.n.to_string()];
        row.extend(results.runtimes.iter().map(|r| cell(w, r)));
        rows.push(row);
    }
    let mut geo = vec!["geomean vs weft".to_string(), String::new()];
    geo.extend(
        results
            .runtimes
            .iter()
            .map(|r| geomean_vs_weft(results, r).map_or("-".into(), ratio)),
    );
    rows.push(geo);

    let mut out = format!(
        "median of {} runs of run(n), seconds (ratio = time / time on weft){}\n\n",
        results.runs,
        if results.quick { ", QUICK mode" } else { "" }
    );
    out.push_str(&columns(&rows));
    out.push('\n');
    for r in &results.runtimes {
        if *r != "weft"
            && let Some(g) = geomean_vs_weft(results, r)
        {
            let _ = writeln!(
                out,
                "geomean time(weft)/time({r}) = {:.2}  (weft is {} {r})",
                1.0 / g,
                if g < 1.0 {
                    format!("{:.2}x slower than", 1.0 / g)
                } else {
                    format!("{g:.2}x faster than")
                }
            );
        }
    }
    for w in &results.workloads {
        for (rt, why) in &w.failures {
            let _ = writeln!(out, "{} could not run {}: {why}", rt, w.workload.name);
        }
    }

    let s = &results.startup;
    let rows_of = |label: &str, values: &[(&'static str, f64)], digits: usize| {
        let mut row = vec![label.to_string()];
        row.extend(results.runtimes.iter().map(|r| {
            values
                .iter()
                .find(|(name, _)| name == r)
                .map_or("-".into(), |(_, v)| format!("{v:.digits$}"))
        }));
        row
    };
    let mut header = vec!["startup and calls".to_string()];
    header.extend(results.runtimes.iter().map(|r| r.to_string()));
    let mut rows = vec![
        header,
        rows_of("translate, ms per MiB of code", &s.translate_ms_per_mib, 1),
    ];
    if let Some(large) = &s.large {
        rows.push(rows_of(
            &format!("translate {}, ms per MiB of code", large.name),
            &large.translate_ms_per_mib,
            1,
        ));
        rows.push(rows_of(
            &format!("{} to first run({}), ms", large.name, large.n),
            &large.first_result_ms,
            1,
        ));
    }
    rows.extend([
        rows_of(
            &format!("instantiate {}, µs", s.instantiate_guest),
            &s.instantiate_us,
            1,
        ),
        rows_of("host-to-wasm call, ns", &s.host_to_wasm_ns, 1),
        rows_of("wasm-to-host call, ns", &s.wasm_to_host_ns, 1),
    ]);
    let _ = writeln!(
        out,
        "\n{} KiB of code in {} KiB of the Rust guest binaries; {NATIVE} calls are plain Rust \
         calls; wasm-to-host is one iteration of the hostcall loop",
        s.code_bytes / 1024,
        s.total_bytes / 1024
    );
    if let Some(large) = &s.large {
        let _ = writeln!(
            out,
            "{}: {} KiB of code in a {} KiB binary; to first run(n): translation (or \
             loading), instantiation and the first call; native built by {}",
            large.name,
            large.code_bytes / 1024,
            large.total_bytes / 1024,
            bench_sqlite::NATIVE_COMPILER
        );
    }
    out.push('\n');
    out.push_str(&columns(&rows));
    out
}

fn map(values: &[(&'static str, f64)]) -> Value {
    Value::Object(
        values
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect::<Map<_, _>>(),
    )
}

/// The results as JSON: `{"workloads":[{"name":..,"median_s":{runtime: seconds}}],
/// "startup":{..},"calls":{..},"os":{"ipc_round_trip_ns":{"weft":..,"linux":..},..}}` plus
/// the machine and the geometric means. A runtime that could not run a workload is absent
/// from its `median_s`; `os` is absent when those measurements were skipped.
pub fn json(results: &Results) -> Value {
    let s = &results.startup;
    let workloads: Vec<Value> = results
        .workloads
        .iter()
        .map(|w| {
            let mut v = json!({
                "name": w.workload.name,
                "what": w.workload.what,
                "n": w.n,
                "checksum": format!("{:#018x}", w.checksum),
                "median_s": map(&w.median_s),
            });
            if !w.failures.is_empty() {
                v["failures"] = Value::Object(
                    w.failures
                        .iter()
                        .map(|(k, why)| (k.to_string(), json!(why)))
                        .collect(),
                );
            }
            v
        })
        .collect();
    let geomean: Vec<(&'static str, f64)> = results
        .runtimes
        .iter()
        .filter_map(|r| Some((*r, geomean_vs_weft(results, r)?)))
        .collect();
    let mut out = json!({
        "quick": results.quick,
        "runs": results.runs,
        "machine": {
            "cpu": results.machine.cpu,
            "cores": results.machine.cores,
            "rustc": results.machine.rustc,
            "os": results.machine.os,
        },
        "workloads": workloads,
        "geomean_time_ratio_to_weft": map(&geomean),
        "startup": {
            "code_bytes": s.code_bytes,
            "total_bytes": s.total_bytes,
            "translate_ms_per_mib_code": map(&s.translate_ms_per_mib),
            "instantiate_guest": s.instantiate_guest,
            "instantiate_us": map(&s.instantiate_us),
            "large_module": s.large.as_ref().map(|l| json!({
                "name": l.name,
                "code_bytes": l.code_bytes,
                "total_bytes": l.total_bytes,
                "n": l.n,
                "translate_ms_per_mib_code": map(&l.translate_ms_per_mib),
                "first_result_ms": map(&l.first_result_ms),
                "native_compiler": bench_sqlite::NATIVE_COMPILER,
            })),
        },
        "calls": {
            "host_to_wasm_ns": map(&s.host_to_wasm_ns),
            "wasm_to_host_ns": map(&s.wasm_to_host_ns),
        },
    });
    if let Some(os) = &results.os {
        out["os"] = Value::Object(
            os.measures
                .iter()
                .map(|m| (m.key.to_string(), json!({"weft": m.weft, "linux": m.linux})))
                .collect(),
        );
    }
    out
}

/// Writes [`json`] to `path`, creating its directory.
pub fn write_json(results: &Results, path: &Path) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let text = serde_json::to_string_pretty(&json(results))? + "\n";
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}
