//! Every standard scenario file, mutated: times pushed to and past the ends of the calendar,
//! numbers swapped for extremes. Loading and scheduling a mutant must end in a scenario or in
//! an error naming the file and a line, never in a panic. The cases this found (a day span out
//! of range, civil times without an instant, `day 4294967295` wrapping to day −1) are kept as
//! unit tests in `interpreter.rs`.

use std::panic::{AssertUnwindSafe, catch_unwind};

use qaqpa_scenarios::interpreter::{PlayError, schedule};
use qaqpa_scenarios::suite::{STANDARD_SUITE, clause_is_judged};
use qaqpa_scenarios::{Scenario, ScenarioError};
use qaqpa_sim::calendar::BusinessCalendar;

/// Values for `start`, `until` and `at`: both ends of the range, past them, and malformed.
const TIMES: &[&str] = &[
    "day 0",
    "day 1 00:00",
    "day 99999999",
    "day 4294967295",
    "day 4294967296",
    "day -1",
    "working-day 99999999",
    "working-day 4294967295",
    "working-day 0 24:00",
    "day 0 23:60",
    "9999-12-31T23:59",
    "9999-12-30T21:59",
    "9999-12-31T03:00",
    "-009999-01-01T00:00",
    "-009999-01-02T07:07",
    "0000-01-01T00:00",
    "2025-02-30T10:00",
    "2031-01-05T10:00",
    "1900-01-01T00:00",
    "day",
    "\"\"",
];

/// Replacements for every number in a file.
const NUMBERS: &[&str] = &[
    "0",
    "4294967295",
    "18446744073709551616",
    "-1",
    "1e308",
    ".nan",
    ".inf",
    "-.inf",
];

fn check(file: &str, text: &str, what: &str, calendar: &BusinessCalendar) -> bool {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let s = Scenario::parse(text, file, &clause_is_judged)?;
        match schedule(calendar, &s) {
            Ok(_) => Ok(s),
            Err(PlayError::Schedule(e)) => Err(e),
            Err(other) => panic!("a schedule error of another kind: {other}"),
        }
    }));
    match outcome {
        Err(_) => panic!("{file}, {what}: panicked"),
        Ok(Err(ScenarioError { file: f, line, .. })) => {
            assert_eq!(f, file, "{what}");
            assert!(line >= 1, "{file}, {what}: an error without a line");
            false
        }
        Ok(Ok(_)) => true,
    }
}

#[test]
fn mutated_times_load_or_fail_with_a_line_never_panic() {
    let calendar = BusinessCalendar::kazakhstan();
    let (mut mutants, mut accepted) = (0, 0);
    for (file, text) in STANDARD_SUITE {
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let t = line.trim_start();
            let key = ["start:", "until:", "- at:", "at:"]
                .into_iter()
                .find(|k| t.starts_with(k) && (!k.starts_with("start") || !line.starts_with(' ')));
            let Some(key) = key else { continue };
            let indent = &line[..line.len() - t.len()];
            for v in TIMES {
                let mut mutated = lines.clone();
                let new = format!("{indent}{key} {v}");
                mutated[i] = &new;
                let text = mutated.join("\n");
                mutants += 1;
                if check(
                    file,
                    &text,
                    &format!("line {}: {key} {v}", i + 1),
                    &calendar,
                ) {
                    accepted += 1;
                }
            }
        }
    }
    assert!(mutants > 500, "{mutants} mutants");
    // Most mutants break a file, but not all: the mutation does reach valid scenarios.
    assert!(
        accepted > 0 && accepted < mutants,
        "{accepted} of {mutants} accepted"
    );
}

#[test]
fn mutated_numbers_load_or_fail_with_a_line_never_panic() {
    let calendar = BusinessCalendar::kazakhstan();
    let mut mutants = 0;
    for (file, text) in STANDARD_SUITE {
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if !bytes[i].is_ascii_digit() {
                i += 1;
                continue;
            }
            let end = (i..bytes.len())
                .find(|&j| !(bytes[j].is_ascii_digit() || bytes[j] == b'.'))
                .unwrap_or(bytes.len());
            let number = &text[i..end];
            for v in NUMBERS {
                let mutated = format!("{}{v}{}", &text[..i], &text[end..]);
                mutants += 1;
                check(
                    file,
                    &mutated,
                    &format!("byte {i}: {number} -> {v}"),
                    &calendar,
                );
            }
            i = end;
        }
    }
    assert!(mutants > 1000, "{mutants} mutants");
}
