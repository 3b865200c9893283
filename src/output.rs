//! The output folder (`--out`): started clean, so no trace or report of an earlier run is
//! taken for this one's, and written atomically, so a reader never sees half a report.

use std::io::Write;
use std::path::{Path, PathBuf};

use qaqpa_reports::catalogue::Catalogue;
use qaqpa_reports::render;
use qaqpa_scenarios::suite::RunOutcome;

use crate::error::CliError;

/// The reports a run writes into its folder, beside `traces/`.
pub const REPORT_FILES: &[&str] = &["report.md", "report.html", "report.json", "report.xml"];

/// The folder of per-scenario traces.
pub const TRACES: &str = "traces";

/// The copy of the `--waivers` file the reports were judged with.
pub const WAIVERS: &str = crate::waivers::COPY;

/// Which qaqpa wrote the folder and when (see [`provenance_json`]).
pub const PROVENANCE: &str = "provenance.json";

/// The live target file the run certified, copied beside the reports (`qaqpa bundle` packs it
/// with its secrets redacted).
pub const TARGET_FILE: &str = crate::bundle::TARGET;

/// Temporary files are named `.<name>.qaqpa-tmp` next to their final name.
const TMP_SUFFIX: &str = ".qaqpa-tmp";

/// Whether `name` is something qaqpa itself writes into an output folder.
fn is_ours(name: &str) -> bool {
    REPORT_FILES.contains(&name)
        || [TRACES, WAIVERS, PROVENANCE, TARGET_FILE].contains(&name)
        || name.ends_with(TMP_SUFFIX)
}

/// Whether `report.json` in `dir` is a qaqpa report (it names the suite's version and lists
/// clauses), so the folder is a qaqpa output folder even with files of the user's beside it.
pub fn holds_a_qaqpa_report(dir: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(dir.join("report.json")) else {
        return false;
    };
    serde_json::from_str::<serde_json::Value>(&text).is_ok_and(|v| {
        v.get("suite_version").is_some_and(|s| s.is_string())
            && v.get("clauses").is_some_and(|c| c.is_array())
    })
}

/// Makes `out` ready for a run: created when missing; when it holds an earlier run, that
/// run's traces and reports are removed (other files are left alone). A non-empty folder that
/// does not look like qaqpa's output is refused, never cleared.
pub fn prepare(out: &Path) -> Result<(), CliError> {
    let shown = out.display();
    match std::fs::metadata(out) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return std::fs::create_dir_all(out)
                .map_err(|e| CliError::output(format!("--out {shown}: cannot create it: {e}")));
        }
        Err(e) => return Err(CliError::output(format!("--out {shown}: {e}"))),
        Ok(m) if !m.is_dir() => {
            return Err(CliError::input(format!(
                "--out {shown} is a file, not a folder"
            )));
        }
        Ok(_) => {}
    }
    let entries: Vec<String> = std::fs::read_dir(out)
        .and_then(|rd| {
            rd.map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
                .collect()
        })
        .map_err(|e| CliError::output(format!("--out {shown}: cannot list it: {e}")))?;
    if entries.is_empty() {
        return Ok(());
    }
    let all_ours = entries.iter().all(|n| is_ours(n));
    if !all_ours && !holds_a_qaqpa_report(out) {
        let mut foreign: Vec<&str> = entries
            .iter()
            .filter(|n| !is_ours(n))
            .map(String::as_str)
            .collect();
        foreign.sort_unstable();
        let more = if foreign.len() > 3 {
            format!(" and {} more", foreign.len() - 3)
        } else {
            String::new()
        };
        foreign.truncate(3);
        return Err(CliError::input(format!(
            "--out {shown} is not empty and does not look like a qaqpa output folder (it holds {}{more}, and no qaqpa report.json): refusing to clear it; name a new or empty folder",
            foreign.join(", ")
        )));
    }
    for name in &entries {
        if !is_ours(name) {
            continue;
        }
        let p = out.join(name);
        let removed = if name == TRACES && p.is_dir() {
            std::fs::remove_dir_all(&p)
        } else {
            std::fs::remove_file(&p)
        };
        removed.map_err(|e| {
            CliError::output(format!(
                "cannot remove {} of an earlier run: {e}",
                p.display()
            ))
        })?;
    }
    Ok(())
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename, so the
/// file is either the old one or the whole new one. Errors name the file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp: PathBuf = path.with_file_name(format!(".{name}{TMP_SUFFIX}"));
    let written = std::fs::File::create(&tmp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(CliError::output(format!(
            "cannot write {}: {e}",
            path.display()
        )));
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        CliError::output(format!(
            "cannot write {} (renaming {} into place): {e}",
            path.display(),
            tmp.display()
        ))
    })
}

/// Writes the reports and every scenario's trace into `out` (prepared by [`prepare`]).
/// Writes the reports of a run or a judgement; one that judged no scenario is refused, since
/// nothing judged is not success.
pub fn write_judged(
    out: &Path,
    outcome: &RunOutcome,
    warnings_fail: bool,
    waivers: Option<&crate::cli::Waivers>,
) -> Result<(), CliError> {
    if outcome.report.scenarios.is_empty() {
        return Err(CliError::input("judged no scenario"));
    }
    write_reports(
        out,
        outcome,
        render::JunitOptions { warnings_fail },
        waivers,
    )
}

/// `provenance.json`: the qaqpa commit that wrote the folder (`build.rs`) and the run date
/// from `SOURCE_DATE_EPOCH` (null when unset), kept out of `report.json` so that one seed's
/// report stays byte-identical across builds. `qaqpa bundle` records both.
pub fn provenance_json() -> String {
    let date = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .and_then(|n| qaqpa_sim::jiff::Timestamp::from_second(n).ok())
        .map(|t| t.to_string());
    let v = serde_json::json!({
        "qaqpa_commit": crate::cli::COMMIT,
        "run_date": date,
    });
    serde_json::to_string_pretty(&v).expect("JSON") + "\n"
}

/// Writes the copy of the waivers file (when the reports were judged with one) and
/// `provenance.json` into `out`.
pub fn write_run_files(out: &Path, waivers: Option<&crate::cli::Waivers>) -> Result<(), CliError> {
    if let Some(w) = waivers {
        write_atomically(&out.join(WAIVERS), w.file.text.as_bytes())?;
    }
    write_atomically(&out.join(PROVENANCE), provenance_json().as_bytes())
}

pub fn write_reports(
    out: &Path,
    outcome: &RunOutcome,
    junit: render::JunitOptions,
    waivers: Option<&crate::cli::Waivers>,
) -> Result<(), CliError> {
    let traces = out.join(TRACES);
    std::fs::create_dir_all(&traces)
        .map_err(|e| CliError::output(format!("cannot create {}: {e}", traces.display())))?;
    for (id, trace) in &outcome.traces {
        let mut buf = Vec::new();
        trace
            .write_jsonl(&mut buf)
            .expect("writing into memory does not fail");
        write_atomically(&traces.join(format!("{id}.jsonl")), &buf)?;
        // the taps' captures beside the trace: `<id>.inside.pcap`, …
        for (suffix, bytes) in trace.captures() {
            write_atomically(&traces.join(format!("{id}.{suffix}")), bytes)?;
        }
    }
    write_run_files(out, waivers)?;
    let r = &outcome.report;
    let cat = Catalogue::standard();
    // report.json last: its presence marks a finished run's folder.
    write_atomically(&out.join("report.md"), render::markdown(r, cat).as_bytes())?;
    write_atomically(
        &out.join("report.html"),
        render::html(r, cat, &render::Provenance::from_env(crate::cli::COMMIT)).as_bytes(),
    )?;
    write_atomically(&out.join("report.xml"), render::junit(r, junit).as_bytes())?;
    write_atomically(&out.join("report.json"), render::json(r).as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("qaqpa-output-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn an_earlier_runs_traces_and_reports_go_and_the_users_files_stay() {
        let d = dir("earlier");
        std::fs::create_dir_all(d.join("traces")).unwrap();
        std::fs::write(d.join("traces/stale-scenario.jsonl"), "{}\n").unwrap();
        std::fs::write(
            d.join("report.json"),
            r#"{"suite_version": "0.1.0", "clauses": []}"#,
        )
        .unwrap();
        std::fs::write(d.join("report.md"), "old").unwrap();
        std::fs::write(d.join("notes.txt"), "mine").unwrap();
        prepare(&d).unwrap();
        assert!(!d.join("traces").exists() && !d.join("report.json").exists());
        assert!(!d.join("report.md").exists());
        assert_eq!(
            std::fs::read_to_string(d.join("notes.txt")).unwrap(),
            "mine"
        );
    }

    #[test]
    fn a_foreign_folder_is_refused_untouched() {
        let d = dir("foreign");
        std::fs::write(d.join("thesis.tex"), "x").unwrap();
        std::fs::create_dir_all(d.join("traces")).unwrap();
        // A report.json that is not qaqpa's does not make the folder ours.
        std::fs::write(d.join("report.json"), r#"{"title": "Q3"}"#).unwrap();
        let e = prepare(&d).unwrap_err();
        assert_eq!(e.code, 2);
        assert!(
            e.message.contains("thesis.tex") && e.message.contains("refusing"),
            "{e}"
        );
        assert!(d.join("thesis.tex").exists() && d.join("traces").exists());
        assert!(d.join("report.json").exists());
    }

    #[test]
    fn a_folder_of_only_qaqpa_names_is_ours_even_without_a_report() {
        let d = dir("partial");
        std::fs::create_dir_all(d.join("traces")).unwrap();
        std::fs::write(d.join(".report.html.qaqpa-tmp"), "half").unwrap();
        prepare(&d).unwrap();
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 0);
    }

    #[test]
    fn atomic_writes_replace_whole_files_and_name_the_file_on_error() {
        let d = dir("atomic");
        let f = d.join("report.md");
        write_atomically(&f, b"one").unwrap();
        write_atomically(&f, b"two").unwrap();
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "two");
        assert_eq!(
            std::fs::read_dir(&d).unwrap().count(),
            1,
            "no temporary file left"
        );
        let missing = d.join("no-such-folder/report.md");
        let e = write_atomically(&missing, b"x").unwrap_err();
        assert_eq!(e.code, 3);
        assert!(e.message.contains(&missing.display().to_string()), "{e}");
    }
}
