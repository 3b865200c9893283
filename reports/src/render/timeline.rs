//! Timelines of evidence as hand-written SVG: one chart per scenario, a labelled row per case
//! (or per subject), a time axis in Asia/Almaty civil time with ticks on round instants, and
//! marks whose shape says what they are. Byte-stable: the same evidence draws the same bytes.

use std::fmt::Write as _;

use qaqpa_sim::jiff::civil::{DateTime, Time};
use qaqpa_sim::jiff::{Timestamp, ToSpan};

use super::esc;
use crate::verdict::Evidence;

const WIDTH: f64 = 960.0;
/// The column of row labels.
const LABEL_W: f64 = 210.0;
const RIGHT: f64 = 44.0;
const AXIS_H: f64 = 34.0;
const ROW_H: f64 = 30.0;
const LEGEND_H: f64 = 48.0;
/// More marks than this and their numbers would overlap: the table below still numbers them.
const MAX_NUMBERED: usize = 40;

/// One piece of evidence placed on the chart.
pub struct Mark<'a> {
    /// Its number in the evidence table, from 1.
    pub number: usize,
    pub at: Timestamp,
    pub evidence: &'a Evidence,
}

/// Whether the oracle computed this (a deadline, the end of a term) rather than a probe
/// observing it.
pub fn computed(e: &Evidence) -> bool {
    e.probe == "oracle"
}

/// Tick steps, in seconds, from a second to a year; the first that gives at most eight ticks
/// across the span is used.
const STEPS: [i64; 19] = [
    1,
    5,
    15,
    60,
    5 * 60,
    15 * 60,
    30 * 60,
    3600,
    3 * 3600,
    6 * 3600,
    12 * 3600,
    86_400,
    2 * 86_400,
    7 * 86_400,
    14 * 86_400,
    28 * 86_400,
    91 * 86_400,
    182 * 86_400,
    364 * 86_400,
];

/// Ticks on round Almaty civil times (midnights for steps of a day or more), covering
/// `[t0, t1]`, with their labels.
fn ticks(t0: Timestamp, t1: Timestamp) -> Vec<(Timestamp, String)> {
    let span = (t1.as_second() - t0.as_second()).max(1);
    let step = STEPS
        .iter()
        .copied()
        .find(|s| span / s <= 8)
        .unwrap_or(STEPS[STEPS.len() - 1]);
    let local0 = qaqpa_sim::clock::local(t0);
    let midnight = local0.date().to_datetime(Time::midnight());
    let fmt = if step >= 86_400 {
        "%Y-%m-%d"
    } else if step >= 60 {
        "%m-%d %H:%M"
    } else {
        "%H:%M:%S"
    };
    // The first tick: the step-aligned civil time at or before t0 (days from the midnight of
    // t0's day, smaller steps from that midnight too).
    let first = if step >= 86_400 {
        midnight
    } else {
        let since = civil_seconds(midnight, local0).unwrap_or(0);
        match midnight.checked_add((since / step * step).seconds()) {
            Ok(t) => t,
            Err(_) => return Vec::new(),
        }
    };
    let mut out = Vec::new();
    for k in 0..64i64 {
        let civil: Option<DateTime> = if step >= 86_400 {
            first.checked_add((k * (step / 86_400)).days()).ok()
        } else {
            first.checked_add((k * step).seconds()).ok()
        };
        let Some(civil) = civil else { break };
        let Ok(at) = qaqpa_sim::clock::instant(civil) else {
            break;
        };
        if at > t1 {
            break;
        }
        if at >= t0 {
            out.push((at, civil.strftime(fmt).to_string()));
        }
    }
    out
}

/// Seconds of civil time from `a` to `b` (same day or later).
fn civil_seconds(a: DateTime, b: DateTime) -> Option<i64> {
    let span = a.until(b).ok()?;
    let total = span.total(qaqpa_sim::jiff::Unit::Second).ok()?;
    Some(total as i64)
}

/// One chart of one scenario's evidence. `rows` are the labels in the order they appear;
/// each mark sits on the row of its subject.
pub fn chart(scenario: &str, marks: &[Mark<'_>]) -> String {
    let Some(first) = marks.iter().map(|m| m.at).min() else {
        return String::new();
    };
    let last = marks.iter().map(|m| m.at).max().unwrap_or(first);
    let mut rows: Vec<&str> = Vec::new();
    for m in marks {
        if !rows.contains(&m.evidence.subject.as_str()) {
            rows.push(&m.evidence.subject);
        }
    }
    // A little room on both sides, so marks at the ends are not cut; a single instant gets an
    // hour either way.
    let pad = ((last.as_second() - first.as_second()) / 30).max(60);
    let pad = if last == first { 3600 } else { pad };
    let t0 = Timestamp::from_second(first.as_second() - pad).unwrap_or(first);
    let t1 = Timestamp::from_second(last.as_second() + pad).unwrap_or(last);
    let span = (t1.as_second() - t0.as_second()).max(1) as f64;
    let plot_w = WIDTH - LABEL_W - RIGHT;
    let x = |t: Timestamp| LABEL_W + (t.as_second() - t0.as_second()) as f64 / span * plot_w;
    let height = AXIS_H + rows.len() as f64 * ROW_H + LEGEND_H;
    let bottom = AXIS_H + rows.len() as f64 * ROW_H;

    let mut o = String::new();
    let _ = writeln!(
        o,
        "<svg class=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {height}\" width=\"100%\" role=\"img\" aria-label=\"timeline of scenario {}\">",
        esc(scenario)
    );
    // Axis: ticks with labels above the plot, and faint grid lines through it.
    let _ = writeln!(
        o,
        "<line x1=\"{LABEL_W}\" y1=\"{AXIS_H}\" x2=\"{}\" y2=\"{AXIS_H}\" stroke=\"#57606a\"/>",
        WIDTH - RIGHT
    );
    for (at, label) in ticks(t0, t1) {
        let tx = x(at);
        // A label near the right edge ends at its tick instead of running off the chart.
        let anchor = if tx > WIDTH - RIGHT - 30.0 {
            "end"
        } else {
            "middle"
        };
        let _ = writeln!(
            o,
            "<line x1=\"{tx:.1}\" y1=\"{:.1}\" x2=\"{tx:.1}\" y2=\"{bottom:.1}\" stroke=\"#d0d7de\"/><line x1=\"{tx:.1}\" y1=\"{:.1}\" x2=\"{tx:.1}\" y2=\"{AXIS_H}\" stroke=\"#57606a\"/><text x=\"{tx:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\" class=\"tick\">{}</text>",
            AXIS_H,
            AXIS_H - 5.0,
            AXIS_H - 9.0,
            esc(&label)
        );
    }
    // Rows: a label on the left, a guide line across.
    for (i, row) in rows.iter().enumerate() {
        let y = AXIS_H + (i as f64 + 0.5) * ROW_H;
        let _ = writeln!(
            o,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" class=\"row\">{}</text><line x1=\"{LABEL_W}\" y1=\"{y:.1}\" x2=\"{}\" y2=\"{y:.1}\" stroke=\"#eaeef2\"/>",
            LABEL_W - 8.0,
            y + 4.0,
            esc(&shorten(row, 30)),
            WIDTH - RIGHT
        );
    }
    let numbered = marks.len() <= MAX_NUMBERED;
    for (i, m) in marks.iter().enumerate() {
        let row = rows
            .iter()
            .position(|r| *r == m.evidence.subject)
            .unwrap_or(0);
        let y = AXIS_H + (row as f64 + 0.5) * ROW_H;
        let mx = x(m.at);
        let title = format!(
            "#{} {} — {}: {}",
            m.number, m.evidence.at, m.evidence.probe, m.evidence.text
        );
        if computed(m.evidence) {
            let _ = write!(
                o,
                "<path class=\"computed\" d=\"M{:.1} {:.1}L{:.1} {:.1}L{:.1} {:.1}L{:.1} {:.1}Z\"><title>{}</title></path>",
                mx,
                y - 7.0,
                mx + 6.0,
                y,
                mx,
                y + 7.0,
                mx - 6.0,
                y,
                esc(&title)
            );
        } else {
            let _ = write!(
                o,
                "<circle class=\"observed\" cx=\"{mx:.1}\" cy=\"{y:.1}\" r=\"5\"><title>{}</title></circle>",
                esc(&title)
            );
        }
        if numbered {
            // Alternate above and below so neighbours' numbers do not collide.
            let dy = if i % 2 == 0 { -9.0 } else { 15.0 };
            let _ = write!(
                o,
                "<text x=\"{mx:.1}\" y=\"{:.1}\" text-anchor=\"middle\" class=\"num\">{}</text>",
                y + dy,
                m.number
            );
        }
        o.push('\n');
    }
    // The legend: one line per kind of mark, under the plot.
    let l1 = bottom + 18.0;
    let l2 = bottom + 36.0;
    let _ = writeln!(
        o,
        "<circle class=\"observed\" cx=\"{:.1}\" cy=\"{l1:.1}\" r=\"5\"/><text x=\"{:.1}\" y=\"{:.1}\" class=\"legend\">observed by a harness probe: a document received, a reply, frames at a tap</text>",
        LABEL_W + 6.0,
        LABEL_W + 18.0,
        l1 + 4.0,
    );
    let _ = writeln!(
        o,
        "<path class=\"computed\" d=\"M{:.1} {:.1}L{:.1} {l2:.1}L{:.1} {:.1}L{:.1} {l2:.1}Z\"/><text x=\"{:.1}\" y=\"{:.1}\" class=\"legend\">computed by the oracle: a deadline, the end of a term</text>",
        LABEL_W + 6.0,
        l2 - 7.0,
        LABEL_W + 12.0,
        LABEL_W + 6.0,
        l2 + 7.0,
        LABEL_W,
        LABEL_W + 18.0,
        l2 + 4.0,
    );
    let _ = writeln!(
        o,
        "<text x=\"8\" y=\"{:.1}\" class=\"legend\">Asia/Almaty time</text><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" class=\"legend\">numbers: rows of the evidence table</text>",
        AXIS_H - 9.0,
        WIDTH - RIGHT,
        l2 + 4.0,
    );
    o.push_str("</svg>\n");
    o
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut t: String = s.chars().take(max - 1).collect();
    t.push('…');
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn day_ticks_fall_on_almaty_midnights() {
        // 2025: Almaty is UTC+5, so local midnight is 19:00Z the day before.
        let t = ticks(ts("2025-03-20T13:30:00Z"), ts("2025-04-02T10:00:00Z"));
        assert!(!t.is_empty() && t.len() <= 8, "{t:?}");
        for (at, label) in &t {
            assert_eq!(at.as_second().rem_euclid(86_400), 19 * 3600, "{label}");
            assert_eq!(label.len(), 10, "{label}");
        }
        // Thirteen days: a tick every second day from the midnight of the first day, so the
        // first one inside the span is 2025-03-22.
        assert_eq!(t[0].1, "2025-03-22");
        assert!(
            t.windows(2)
                .all(|w| w[1].0.as_second() - w[0].0.as_second() == 2 * 86_400)
        );
    }

    #[test]
    fn minute_ticks_for_a_short_episode() {
        let t = ticks(ts("2025-06-05T10:00:00Z"), ts("2025-06-05T10:20:00Z"));
        assert!(t.len() >= 2 && t.len() <= 8, "{t:?}");
        assert!(t.iter().all(|(at, _)| at.as_second() % 60 == 0), "{t:?}");
        assert!(t[0].1.starts_with("06-05 15:"), "{t:?}");
    }

    #[test]
    fn a_chart_has_a_row_per_subject_and_a_legend() {
        let ev = |at: &str, probe: &str, subject: &str| Evidence {
            scenario: "s".into(),
            at: at.into(),
            probe: probe.into(),
            subject: subject.into(),
            text: "t".into(),
            seq: None,
        };
        let e = [
            ev("2025-03-20T18:30:00+05:00", "inbox:STS", "case A"),
            ev("2025-04-03T23:59:59+05:00", "oracle", "case A"),
            ev("2025-03-21T10:00:00+05:00", "inbox:STS", "case B"),
        ];
        let marks: Vec<Mark> = e
            .iter()
            .enumerate()
            .map(|(i, e)| Mark {
                number: i + 1,
                at: e.at.parse().unwrap(),
                evidence: e,
            })
            .collect();
        let svg = chart("s", &marks);
        assert_eq!(svg.matches("class=\"row\"").count(), 2, "{svg}");
        assert_eq!(svg.matches("<circle class=\"observed\" cx").count(), 3);
        assert_eq!(svg.matches("<path class=\"computed\"").count(), 2);
        assert!(svg.contains("computed by the oracle"));
        assert_eq!(svg, chart("s", &marks), "byte-stable");
    }
}
