//! `qaqpa calendar DATE [--add N [--working-days|--calendar-days]] [--json] [--calendar-file FILE]`:
//! whether DATE is a working day in Kazakhstan and why not, and optionally the date N working or
//! calendar days after it (see `qaqpa_sim::calendar` for the rules and the data's sources).

use std::io::Write;
use std::path::PathBuf;

use jiff::civil::Date;
use qaqpa_sim::calendar::{BusinessCalendar, CalendarError, DayStatus, parse_ymd};

/// Arguments of `qaqpa calendar`.
#[derive(Debug, Clone, clap::Args)]
pub struct CalendarArgs {
    /// The date to look up, as YYYY-MM-DD (e.g. 2024-03-21).
    #[arg(value_name = "DATE")]
    pub date: String,

    /// Also print the date N days after DATE (working days unless --calendar-days is given).
    /// DATE is day 0: in working days, the N-th working day strictly after DATE.
    #[arg(long, value_name = "N")]
    pub add: Option<u32>,

    /// Count --add in working days (the default).
    #[arg(long, requires = "add", conflicts_with = "calendar_days")]
    pub working_days: bool,

    /// Count --add in calendar days.
    #[arg(long, requires = "add")]
    pub calendar_days: bool,

    /// Print one JSON object {"date", "working", "reason", "result"} instead of text.
    #[arg(long)]
    pub json: bool,

    /// A calendar file (the format of sim/data/calendar-kz.toml) that extends or corrects the
    /// embedded Kazakhstan calendar: a later year, a corrected transfer.
    #[arg(long, value_name = "FILE")]
    pub calendar_file: Option<PathBuf>,
}

/// Errors of `qaqpa calendar`.
#[derive(Debug, thiserror::Error)]
pub enum CalendarCmdError {
    /// A command-line argument is not a valid date.
    #[error("invalid {arg} `{value}`: expected a date as YYYY-MM-DD, e.g. 2024-03-21 ({reason})")]
    BadDate {
        arg: &'static str,
        value: String,
        reason: String,
    },
    /// The calendar could not answer (a year outside its data, a bad calendar file).
    #[error(transparent)]
    Calendar(#[from] CalendarError),
    /// Writing the answer failed.
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
}

impl CalendarCmdError {
    /// Whether the error comes from the user's input (a bad date, a year outside the data, a bad
    /// or missing calendar file) rather than from writing the output.
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, CalendarCmdError::Output(_))
    }
}

#[derive(serde::Serialize)]
struct JsonAnswer {
    date: Date,
    working: bool,
    reason: String,
    result: Option<Date>,
}

/// Runs `qaqpa calendar`, writing the answer to `out`.
pub fn run(args: &CalendarArgs, out: &mut dyn Write) -> Result<(), CalendarCmdError> {
    let date = parse_ymd(&args.date).map_err(|reason| CalendarCmdError::BadDate {
        arg: "DATE",
        value: args.date.clone(),
        reason,
    })?;
    let mut cal = BusinessCalendar::kazakhstan();
    if let Some(path) = &args.calendar_file {
        cal = cal.with_override_file(path)?;
    }
    let status = cal.day(date)?;
    let result = match args.add {
        None => None,
        Some(n) if args.calendar_days => Some(cal.add_calendar_days(date, i64::from(n))?),
        Some(n) => Some(cal.add_working_days(date, n)?),
    };

    if args.json {
        let answer = JsonAnswer {
            date,
            working: status.working,
            reason: status.reason.summary(),
            result,
        };
        serde_json::to_writer(&mut *out, &answer).map_err(std::io::Error::from)?;
        writeln!(out)?;
        return Ok(());
    }

    writeln!(out, "{}", describe(&status))?;
    if let (Some(n), Some(r)) = (args.add, result) {
        let unit = match (args.calendar_days, n) {
            (true, 1) => "calendar day",
            (true, _) => "calendar days",
            (false, 1) => "working day",
            (false, _) => "working days",
        };
        writeln!(out, "{date} + {n} {unit} = {r} ({:?})", r.weekday())?;
    }
    let year = date.year();
    if cal.is_provisional(year) {
        let notes = cal.notes(year).unwrap_or("the data may still change");
        writeln!(out, "note: the {year} calendar is provisional: {notes}")?;
    }
    if let Some(r) = result
        && r.year() != year
        && cal.is_provisional(r.year())
    {
        let notes = cal.notes(r.year()).unwrap_or("the data may still change");
        writeln!(
            out,
            "note: the {} calendar is provisional: {notes}",
            r.year()
        )?;
    }
    Ok(())
}

fn describe(status: &DayStatus) -> String {
    let d = status.date;
    if status.working {
        match &status.reason {
            qaqpa_sim::calendar::DayReason::Working => {
                format!("{d} ({:?}): working day", d.weekday())
            }
            other => format!("{d} ({:?}): working day — {}", d.weekday(), other.summary()),
        }
    } else {
        format!(
            "{d} ({:?}): not a working day — {}",
            d.weekday(),
            status.reason.summary()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(date: &str) -> CalendarArgs {
        CalendarArgs {
            date: date.to_string(),
            add: None,
            working_days: false,
            calendar_days: false,
            json: false,
            calendar_file: None,
        }
    }

    fn output(a: &CalendarArgs) -> String {
        let mut buf = Vec::new();
        run(a, &mut buf).unwrap();
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn text_answers() {
        assert_eq!(
            output(&args("2024-03-21")),
            "2024-03-21 (Thursday): not a working day — holiday: Nauryz\n"
        );
        assert_eq!(
            output(&args("2024-03-19")),
            "2024-03-19 (Tuesday): working day\n"
        );
        assert!(
            output(&args("2024-05-04"))
                .starts_with("2024-05-04 (Saturday): working day — transferred working day")
        );
        let mut a = args("2024-03-19");
        a.add = Some(10);
        assert_eq!(
            output(&a),
            "2024-03-19 (Tuesday): working day\n2024-03-19 + 10 working days = 2024-04-05 (Friday)\n"
        );
        a.calendar_days = true;
        assert!(output(&a).contains("2024-03-19 + 10 calendar days = 2024-03-29 (Friday)"));
        assert!(output(&args("2027-05-16")).contains("note: the 2027 calendar is provisional"));
    }

    #[test]
    fn json_answer() {
        let mut a = args("2024-05-08");
        a.json = true;
        a.add = Some(1);
        let v: serde_json::Value = serde_json::from_str(&output(&a)).unwrap();
        assert_eq!(v["date"], "2024-05-08");
        assert_eq!(v["working"], false);
        assert!(
            v["reason"]
                .as_str()
                .unwrap()
                .starts_with("transferred day off (worked on 2024-05-04;")
        );
        assert_eq!(v["result"], "2024-05-10");
        let mut a = args("2024-06-01");
        a.json = true;
        let v: serde_json::Value = serde_json::from_str(&output(&a)).unwrap();
        assert_eq!(v["reason"], "weekend");
        assert!(v["result"].is_null());
    }

    #[test]
    fn bad_dates_name_the_argument_and_the_form() {
        for bad in ["2024-13-01", "21.03.2024", "2024-3-21", "2023-02-29", ""] {
            let err = run(&args(bad), &mut Vec::new()).unwrap_err();
            assert!(
                matches!(err, CalendarCmdError::BadDate { .. }),
                "{bad}: {err:?}"
            );
            assert!(err.is_bad_input());
            let msg = err.to_string();
            assert!(msg.contains("DATE") && msg.contains("YYYY-MM-DD"), "{msg}");
        }
    }

    #[test]
    fn years_outside_the_data_and_bad_files_are_errors() {
        let err = run(&args("2031-01-05"), &mut Vec::new()).unwrap_err();
        assert!(matches!(
            err,
            CalendarCmdError::Calendar(CalendarError::YearNotCovered { year: 2031, .. })
        ));
        let mut a = args("2024-01-05");
        a.calendar_file = Some(PathBuf::from("/nonexistent/qaqpa-calendar.toml"));
        let err = run(&a, &mut Vec::new()).unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/qaqpa-calendar.toml"),
            "{err}"
        );
    }

    #[test]
    fn clap_parses_the_flags() {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            args: CalendarArgs,
        }
        let cli = Cli::try_parse_from([
            "qaqpa",
            "2024-03-19",
            "--add",
            "10",
            "--calendar-days",
            "--json",
        ])
        .unwrap();
        assert_eq!(cli.args.add, Some(10));
        assert!(cli.args.calendar_days && cli.args.json && !cli.args.working_days);
        assert!(Cli::try_parse_from(["qaqpa", "2024-03-19", "--working-days"]).is_err());
        assert!(
            Cli::try_parse_from([
                "qaqpa",
                "2024-03-19",
                "--add",
                "1",
                "--working-days",
                "--calendar-days"
            ])
            .is_err()
        );
    }

    /// Sums past the last date are errors naming the range, for every --add the flag takes:
    /// 7 304 485 calendar days used to panic (more days than a jiff span holds) and
    /// 3 000 000 to print 9999-12-31.
    #[test]
    fn sums_past_the_last_date_are_errors() {
        for n in [3_000_000, 7_304_485, u32::MAX] {
            let mut a = args("2025-03-20");
            a.add = Some(n);
            a.calendar_days = true;
            let e = run(&a, &mut Vec::new()).unwrap_err();
            assert!(e.is_bad_input());
            let msg = e.to_string();
            assert!(
                msg.contains(&format!("2025-03-20 + {n} calendar days"))
                    && msg.contains("9999-12-31"),
                "{msg}"
            );
        }
        // In working days the calendar's data ends first, and says so.
        let mut a = args("2025-03-20");
        a.add = Some(3_000_000);
        let e = run(&a, &mut Vec::new()).unwrap_err();
        assert!(e.to_string().contains("no calendar data for 2028"), "{e}");
    }
}
