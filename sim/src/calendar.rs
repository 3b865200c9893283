//! The Kazakhstan business calendar: which days are working days, and deadlines counted in
//! working or calendar days.
//!
//! # Data
//!
//! The facts live in a TOML data file, not in code: `sim/data/calendar-kz.toml`, embedded with
//! `include_str!` and loaded by [`BusinessCalendar::kazakhstan`]. It covers 2020–2027 and names,
//! for every year, the sources its facts rest on ([`BusinessCalendar::source`]) and what is
//! still uncertain ([`BusinessCalendar::notes`], [`BusinessCalendar::is_provisional`]). The file's
//! header documents the format. Users extend or correct it with a file in the same format
//! ([`BusinessCalendar::with_override_file`]): a later year, a corrected transfer, the
//! published Kurban Ait date. An override entry for a date replaces the embedded one.
//!
//! # Rules
//!
//! * The working week is Monday–Friday; Saturday and Sunday are days off (the five-day week of
//!   government bodies; the six-day week is not modelled).
//! * Every holiday is a day off: the yearly fixed-date holidays (`[[holiday]]` rules, each valid
//!   from/until a year) and the dated holidays of a year (the moveable Kurban Ait).
//! * Carry-over (Law "On holidays in the Republic of Kazakhstan", art. 5): a holiday that is not
//!   religious and falls on a Saturday or Sunday makes the next working day a day off. Holidays
//!   are taken in date order; a carried day skips weekends, holidays, days already carried to
//!   and transferred days off. Religious holidays (Orthodox Christmas, Kurban Ait) do not carry
//!   over. A carry-over from a year before the first covered year is not computed.
//! * Transfers (Labour Code art. 85(3)) apply last: a transfer's `working_day` is a working day
//!   whatever else falls on it (this is also how an override cancels a day off), its `day_off`
//!   is a day off.
//!
//! A day's [`DayReason`] is, in this order of precedence: a transferred working day, a holiday,
//! a transferred day off, a carry-over, a weekend, a plain working day.
//!
//! # Deadlines
//!
//! The harness reads "within N working days of receipt on day D" as: by the end of
//! `add_working_days(D, N)`, that is 23:59:59.999 in Asia/Almaty (the calendar's time zone) on
//! that day. The day of receipt is day 0 and does not count, whether or not it is a working day:
//! a request received on a Saturday with a 1-working-day deadline is due by the end of Monday
//! (if Monday is a working day). [`BusinessCalendar::deadline_end`] computes this from the
//! instant of receipt, whose Almaty date is D; [`BusinessCalendar::calendar_deadline_end`] is the
//! same with calendar days (`D + N`). An event at instant `t` meets the deadline iff
//! `t <= deadline_end` (at millisecond precision; equivalently, `t` is before midnight).
//!
//! # Time zone
//!
//! Asia/Almaty was UTC+6 until 2024-03-01 00:00 local time and UTC+5 since; [`almaty`] comes from
//! jiff's bundled time-zone database, so results do not depend on the host's zoneinfo.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::{Range, RangeInclusive};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use serde::{Deserialize, Serialize};
use toml::Spanned;

/// The embedded Kazakhstan calendar data (`sim/data/calendar-kz.toml`).
pub const KAZAKHSTAN_TOML: &str = include_str!("../data/calendar-kz.toml");

/// The origin named in errors and sources for the embedded data.
pub const KAZAKHSTAN_ORIGIN: &str = "sim/data/calendar-kz.toml (embedded)";

/// The Asia/Almaty time zone from jiff's bundled database.
pub fn almaty() -> TimeZone {
    static TZ: OnceLock<TimeZone> = OnceLock::new();
    TZ.get_or_init(|| {
        TimeZone::get("Asia/Almaty").expect("jiff's bundled tz database contains Asia/Almaty")
    })
    .clone()
}

/// Why a day is, or is not, a working day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DayReason {
    /// A Monday–Friday with nothing special on it.
    Working,
    /// A Saturday or Sunday.
    Weekend,
    /// A public holiday (names joined with " / " if two fall on one day).
    Holiday {
        name: String,
        /// The date is an estimate (e.g. Kurban Ait before its date is published).
        #[serde(skip_serializing_if = "is_false")]
        estimated: bool,
    },
    /// The day off carried over from a holiday that fell on a weekend.
    HolidayCarryOver { name: String, holiday: Date },
    /// A weekday made a day off by a transfer; `worked_on` is the day worked instead.
    TransferredDayOff {
        worked_on: Option<Date>,
        source: String,
    },
    /// A day made a working day by a transfer; `instead_of` is the day off given instead.
    TransferredWorkingDay {
        instead_of: Option<Date>,
        source: String,
    },
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl DayReason {
    /// A short human-readable reason: "working day", "weekend", "holiday: Nauryz",
    /// "transferred day off (worked on 2024-05-04; Order No. 109 …)", ….
    pub fn summary(&self) -> String {
        match self {
            DayReason::Working => "working day".to_string(),
            DayReason::Weekend => "weekend".to_string(),
            DayReason::Holiday { name, estimated } => {
                if *estimated {
                    format!("holiday: {name} (estimated date)")
                } else {
                    format!("holiday: {name}")
                }
            }
            DayReason::HolidayCarryOver { name, holiday } => {
                format!("day off carried over from {name} on {holiday} (a weekend)")
            }
            DayReason::TransferredDayOff { worked_on, source } => match worked_on {
                Some(w) => format!("transferred day off (worked on {w}; {source})"),
                None => format!("transferred day off ({source})"),
            },
            DayReason::TransferredWorkingDay { instead_of, source } => match instead_of {
                Some(d) => format!("transferred working day (day off moved to {d}; {source})"),
                None => format!("transferred working day ({source})"),
            },
        }
    }
}

impl fmt::Display for DayReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.summary())
    }
}

/// The status of one day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DayStatus {
    pub date: Date,
    pub working: bool,
    pub reason: DayReason,
}

/// Errors of the calendar, each saying what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum CalendarError {
    /// The date's year is outside the calendar's data.
    #[error(
        "no calendar data for {year}: the calendar covers {first}–{last}; {}",
        missing_years_hint(*year, *first, *last)
    )]
    YearNotCovered { year: i16, first: i16, last: i16 },
    /// A calendar file is malformed; `message` names the field and what was expected.
    #[error("{origin}:{line}:{column}: {message}")]
    Parse {
        origin: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// A calendar file is well-formed but the calendar it makes is not usable.
    #[error("{origin}: {message}")]
    Invalid { origin: String, message: String },
    /// A calendar file could not be read.
    #[error("cannot read calendar file {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Date arithmetic left the range qaqpa represents: `what` was asked, `limit` says the
    /// range.
    #[error("{what} is out of range: {limit}")]
    OutOfRange { what: String, limit: String },
}

fn missing_years_hint(year: i16, first: i16, last: i16) -> String {
    let tables = if year > last + 1 {
        format!("tables [year.{}] to [year.{year}]", last + 1)
    } else if year < first - 1 {
        format!("tables [year.{year}] to [year.{}]", first - 1)
    } else {
        format!("a [year.{year}] table")
    };
    format!(
        "add {tables} (each with its source, Kurban Ait date and transfers) in an override \
         calendar file"
    )
}

// ---------------------------------------------------------------------------------------------
// The model.

#[derive(Clone, Debug)]
struct Rule {
    name: String,
    month: i8,
    day: i8,
    from: Option<i16>,
    until: Option<i16>,
    religious: bool,
}

impl Rule {
    fn applies(&self, year: i16) -> bool {
        self.from.is_none_or(|f| year >= f) && self.until.is_none_or(|u| year <= u)
    }
}

#[derive(Clone, Debug)]
struct DatedHoliday {
    name: String,
    date: Date,
    religious: bool,
    estimated: bool,
}

#[derive(Clone, Debug)]
struct Transfer {
    working_day: Option<Date>,
    day_off: Option<Date>,
    source: String,
}

impl Transfer {
    fn dates(&self) -> impl Iterator<Item = Date> {
        self.working_day.into_iter().chain(self.day_off)
    }
}

#[derive(Clone, Debug)]
struct YearData {
    source: String,
    notes: Option<String>,
    provisional: bool,
    holidays: Vec<DatedHoliday>,
    transfers: Vec<Transfer>,
}

/// A business calendar: holidays, carry-overs and transfers over a range of covered years.
#[derive(Clone, Debug)]
pub struct BusinessCalendar {
    time_zone: TimeZone,
    rules: Vec<Rule>,
    years: BTreeMap<i16, YearData>,
    origins: Vec<String>,
    /// Every covered day that is not a plain weekday or a plain weekend day.
    special: BTreeMap<Date, DayStatus>,
}

fn is_weekend(d: Date) -> bool {
    matches!(d.weekday(), Weekday::Saturday | Weekday::Sunday)
}

/// The range of civil dates, said for error messages.
pub const DATE_RANGE: &str = "qaqpa's dates run from -9999-01-01 to 9999-12-31";

fn next_day(d: Date) -> Result<Date, CalendarError> {
    d.tomorrow().map_err(|_| CalendarError::OutOfRange {
        what: format!("the day after {d}"),
        limit: DATE_RANGE.into(),
    })
}

impl BusinessCalendar {
    /// The Kazakhstan calendar from the embedded data (2020–2027).
    pub fn kazakhstan() -> Self {
        static KZ: OnceLock<BusinessCalendar> = OnceLock::new();
        KZ.get_or_init(|| {
            BusinessCalendar::from_toml_str(KAZAKHSTAN_TOML, KAZAKHSTAN_ORIGIN)
                .unwrap_or_else(|e| panic!("embedded calendar data is invalid: {e}"))
        })
        .clone()
    }

    /// A calendar from a complete calendar file's text; `origin` (a path or a label) is named
    /// in errors.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Self, CalendarError> {
        let doc = parse_doc(text, origin)?;
        let ctx = Ctx { text, origin };
        if doc.years.is_empty() {
            return Err(CalendarError::Invalid {
                origin: origin.to_string(),
                message: "the file has no [year.YYYY] tables, so it covers no year; add one \
                          per year with its `source`"
                    .to_string(),
            });
        }
        let mut years = BTreeMap::new();
        for (year, y) in doc.years {
            let Some(source) = y.source else {
                return Err(ctx.err(
                    y.span.clone(),
                    &format!("year.{year}"),
                    "missing `source`: every year must name what its facts rest on \
                     (e.g. source = \"Law No. 267-II; Decree No. 713 of 6 Oct 2021\")",
                ));
            };
            years.insert(
                year,
                YearData {
                    source,
                    notes: y.notes,
                    provisional: y.provisional.unwrap_or(false),
                    holidays: y.holidays,
                    transfers: y.transfers,
                },
            );
        }
        let mut cal = BusinessCalendar {
            time_zone: doc.time_zone.unwrap_or_else(almaty),
            rules: doc.rules,
            years,
            origins: vec![origin.to_string()],
            special: BTreeMap::new(),
        };
        cal.rebuild(origin)?;
        Ok(cal)
    }

    /// This calendar amended by an override file (same format; see the module doc and the data
    /// file's header for how entries combine).
    pub fn with_override_file(self, path: &Path) -> Result<Self, CalendarError> {
        let text = std::fs::read_to_string(path).map_err(|source| CalendarError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        self.with_override_str(&text, &path.display().to_string())
    }

    /// This calendar amended by an override file's text; `origin` is named in errors.
    pub fn with_override_str(mut self, text: &str, origin: &str) -> Result<Self, CalendarError> {
        let doc = parse_doc(text, origin)?;
        let ctx = Ctx { text, origin };
        if let Some(tz) = doc.time_zone {
            self.time_zone = tz;
        }
        // Rules: an override rule replaces every rule with the same month and day.
        let replaced: BTreeSet<(i8, i8)> = doc.rules.iter().map(|r| (r.month, r.day)).collect();
        self.rules.retain(|r| !replaced.contains(&(r.month, r.day)));
        self.rules.extend(doc.rules);
        // Years: add, or amend entry by entry.
        for (year, o) in doc.years {
            match self.years.get_mut(&year) {
                None => {
                    let Some(source) = o.source else {
                        return Err(ctx.err(
                            o.span.clone(),
                            &format!("year.{year}"),
                            &format!(
                                "missing `source`: {year} is a new year for this calendar, so \
                                 it must name what its facts rest on"
                            ),
                        ));
                    };
                    self.years.insert(
                        year,
                        YearData {
                            source,
                            notes: o.notes,
                            provisional: o.provisional.unwrap_or(false),
                            holidays: o.holidays,
                            transfers: o.transfers,
                        },
                    );
                }
                Some(y) => {
                    let amends = !o.holidays.is_empty() || !o.transfers.is_empty();
                    // Replace against the entries already there, not against each other.
                    y.holidays.retain(|e| {
                        !o.holidays
                            .iter()
                            .any(|h| h.date == e.date || h.name == e.name)
                    });
                    y.holidays.extend(o.holidays);
                    let dates: BTreeSet<Date> =
                        o.transfers.iter().flat_map(|t| t.dates()).collect();
                    y.transfers
                        .retain(|e| !e.dates().any(|d| dates.contains(&d)));
                    y.transfers.extend(o.transfers);
                    match o.source {
                        Some(s) => y.source = s,
                        None if amends => y.source = format!("{} Amended by {origin}.", y.source),
                        None => {}
                    }
                    if o.notes.is_some() {
                        y.notes = o.notes;
                    }
                    if let Some(p) = o.provisional {
                        y.provisional = p;
                    }
                }
            }
        }
        self.origins.push(origin.to_string());
        self.rebuild(origin)?;
        Ok(self)
    }

    /// The files this calendar was built from, in order (the embedded data first).
    pub fn origins(&self) -> &[String] {
        &self.origins
    }

    /// The time zone deadlines are computed in (Asia/Almaty unless the data says otherwise).
    pub fn time_zone(&self) -> &TimeZone {
        &self.time_zone
    }

    /// The years the calendar has data for (always consecutive).
    pub fn covered_years(&self) -> RangeInclusive<i16> {
        let first = *self
            .years
            .keys()
            .next()
            .expect("a calendar covers at least one year");
        let last = *self
            .years
            .keys()
            .next_back()
            .expect("a calendar covers at least one year");
        first..=last
    }

    /// What the facts of `year` rest on, or `None` outside the covered years.
    pub fn source(&self, year: i16) -> Option<&str> {
        self.years.get(&year).map(|y| y.source.as_str())
    }

    /// What is uncertain about `year`, if the data says.
    pub fn notes(&self, year: i16) -> Option<&str> {
        self.years.get(&year).and_then(|y| y.notes.as_deref())
    }

    /// Whether `year`'s facts may still change (transfers not decided, dates estimated).
    pub fn is_provisional(&self, year: i16) -> bool {
        self.years.get(&year).is_some_and(|y| y.provisional)
    }

    fn check_covered(&self, d: Date) -> Result<(), CalendarError> {
        let range = self.covered_years();
        if range.contains(&d.year()) {
            Ok(())
        } else {
            Err(CalendarError::YearNotCovered {
                year: d.year(),
                first: *range.start(),
                last: *range.end(),
            })
        }
    }

    /// The status of day `d`, or [`CalendarError::YearNotCovered`] outside the data.
    pub fn day(&self, d: Date) -> Result<DayStatus, CalendarError> {
        self.check_covered(d)?;
        if let Some(s) = self.special.get(&d) {
            return Ok(s.clone());
        }
        Ok(if is_weekend(d) {
            DayStatus {
                date: d,
                working: false,
                reason: DayReason::Weekend,
            }
        } else {
            DayStatus {
                date: d,
                working: true,
                reason: DayReason::Working,
            }
        })
    }

    /// Whether `d` is a working day.
    pub fn is_working_day(&self, d: Date) -> Result<bool, CalendarError> {
        Ok(self.day(d)?.working)
    }

    /// The `n`-th working day strictly after `d`; `n = 0` gives `d` itself (whatever day it is,
    /// covered or not).
    pub fn add_working_days(&self, d: Date, n: u32) -> Result<Date, CalendarError> {
        let mut cur = d;
        let mut left = n;
        while left > 0 {
            cur = next_day(cur)?;
            if self.is_working_day(cur)? {
                left -= 1;
            }
        }
        Ok(cur)
    }

    /// `d` plus `n` calendar days (negative `n` goes back); an error naming the range when
    /// the result is not a date qaqpa represents (never a saturated date).
    pub fn add_calendar_days(&self, d: Date, n: i64) -> Result<Date, CalendarError> {
        // `Span::try_days` refuses more days than any two dates are apart; `checked_add`
        // refuses a result past either end.
        jiff::Span::new()
            .try_days(n)
            .and_then(|span| d.checked_add(span))
            .map_err(|_| CalendarError::OutOfRange {
                what: format!(
                    "{d} {} {} calendar days",
                    if n < 0 { '-' } else { '+' },
                    n.unsigned_abs()
                ),
                limit: DATE_RANGE.into(),
            })
    }

    /// The number of working days in `(from, to]`; negative (minus the count in `(to, from]`)
    /// if `to < from`, zero if they are equal.
    pub fn working_days_between(&self, from: Date, to: Date) -> Result<i64, CalendarError> {
        let (lo, hi, sign) = match from.cmp(&to) {
            std::cmp::Ordering::Equal => return Ok(0),
            std::cmp::Ordering::Less => (from, to, 1),
            std::cmp::Ordering::Greater => (to, from, -1),
        };
        self.check_covered(hi)?;
        let mut count = 0i64;
        let mut cur = lo;
        while cur < hi {
            cur = next_day(cur)?;
            if self.is_working_day(cur)? {
                count += 1;
            }
        }
        Ok(sign * count)
    }

    /// The days of `year` that are not plain weekdays or plain weekends (holidays, carry-overs,
    /// transfers), in date order.
    pub fn special_days(&self, year: i16) -> Result<Vec<DayStatus>, CalendarError> {
        let first = Date::new(year, 1, 1).map_err(|_| CalendarError::OutOfRange {
            what: format!("year {year}"),
            limit: DATE_RANGE.into(),
        })?;
        self.check_covered(first)?;
        let last = first.last_of_year();
        Ok(self
            .special
            .range(first..=last)
            .map(|(_, s)| s.clone())
            .collect())
    }

    /// The last instant (23:59:59.999 in the calendar's time zone) of day `d`.
    pub fn end_of_day(&self, d: Date) -> Result<Timestamp, CalendarError> {
        let out_of_range = || CalendarError::OutOfRange {
            what: format!("the end of {d}"),
            limit: crate::clock::range_text(),
        };
        let next = d.tomorrow().map_err(|_| out_of_range())?;
        let start = next
            .to_zoned(self.time_zone.clone())
            .map_err(|_| out_of_range())?;
        start
            .timestamp()
            .checked_sub(1.millisecond())
            .map_err(|_| out_of_range())
    }

    /// The deadline for "within `working_days` working days of receipt": the end of
    /// `add_working_days(D, working_days)`, where D is the date of `received` in the calendar's
    /// time zone (day 0).
    pub fn deadline_end(
        &self,
        received: Timestamp,
        working_days: u32,
    ) -> Result<Timestamp, CalendarError> {
        let d = received.to_zoned(self.time_zone.clone()).date();
        let due = self.add_working_days(d, working_days)?;
        self.end_of_day(due)
    }

    /// The deadline for "within `calendar_days` calendar days of receipt": the end of D +
    /// `calendar_days`, where D is the date of `received` in the calendar's time zone.
    pub fn calendar_deadline_end(
        &self,
        received: Timestamp,
        calendar_days: u32,
    ) -> Result<Timestamp, CalendarError> {
        let d = received.to_zoned(self.time_zone.clone()).date();
        let due = self.add_calendar_days(d, i64::from(calendar_days))?;
        self.end_of_day(due)
    }

    /// Checks consecutiveness and recomputes the special days.
    fn rebuild(&mut self, origin: &str) -> Result<(), CalendarError> {
        let years: Vec<i16> = self.years.keys().copied().collect();
        if let Some(w) = years.windows(2).find(|w| w[1] != w[0] + 1) {
            return Err(CalendarError::Invalid {
                origin: origin.to_string(),
                message: format!(
                    "the covered years must be consecutive, but {} is followed by {}: add \
                     [year.{}] (with its source) first",
                    w[0],
                    w[1],
                    w[0] + 1
                ),
            });
        }
        self.special = compute_special(&self.rules, &self.years)?;
        Ok(())
    }
}

struct HolidayAcc {
    names: Vec<String>,
    carries: bool,
    estimated: bool,
}

fn compute_special(
    rules: &[Rule],
    years: &BTreeMap<i16, YearData>,
) -> Result<BTreeMap<Date, DayStatus>, CalendarError> {
    let mut holidays: BTreeMap<Date, HolidayAcc> = BTreeMap::new();
    let mut add = |date: Date, name: &str, religious: bool, estimated: bool| {
        let acc = holidays.entry(date).or_insert_with(|| HolidayAcc {
            names: Vec::new(),
            carries: false,
            estimated: false,
        });
        if !acc.names.iter().any(|n| n == name) {
            acc.names.push(name.to_string());
        }
        acc.carries |= !religious;
        acc.estimated |= estimated;
    };
    for (&year, y) in years {
        for r in rules.iter().filter(|r| r.applies(year)) {
            // Rules are validated against a leap year; 29 February only exists in some years.
            if let Ok(date) = Date::new(year, r.month, r.day) {
                add(date, &r.name, r.religious, false);
            }
        }
        for h in &y.holidays {
            add(h.date, &h.name, h.religious, h.estimated);
        }
    }
    let mut working: BTreeMap<Date, (Option<Date>, String)> = BTreeMap::new();
    let mut off: BTreeMap<Date, (Option<Date>, String)> = BTreeMap::new();
    for y in years.values() {
        for t in &y.transfers {
            if let Some(w) = t.working_day {
                working.insert(w, (t.day_off, t.source.clone()));
            }
            if let Some(o) = t.day_off {
                off.insert(o, (t.working_day, t.source.clone()));
            }
        }
    }
    let mut carried: BTreeMap<Date, (String, Date)> = BTreeMap::new();
    for (&h, acc) in &holidays {
        if !acc.carries || !is_weekend(h) {
            continue;
        }
        let mut c = next_day(h)?;
        while is_weekend(c)
            || holidays.contains_key(&c)
            || carried.contains_key(&c)
            || off.contains_key(&c)
        {
            c = next_day(c)?;
        }
        carried.insert(c, (acc.names.join(" / "), h));
    }
    let dates: BTreeSet<Date> = holidays
        .keys()
        .chain(working.keys())
        .chain(off.keys())
        .chain(carried.keys())
        .copied()
        .collect();
    let mut special = BTreeMap::new();
    for date in dates {
        let (working_flag, reason) = if let Some((instead_of, source)) = working.get(&date) {
            (
                true,
                DayReason::TransferredWorkingDay {
                    instead_of: *instead_of,
                    source: source.clone(),
                },
            )
        } else if let Some(acc) = holidays.get(&date) {
            (
                false,
                DayReason::Holiday {
                    name: acc.names.join(" / "),
                    estimated: acc.estimated,
                },
            )
        } else if let Some((worked_on, source)) = off.get(&date) {
            (
                false,
                DayReason::TransferredDayOff {
                    worked_on: *worked_on,
                    source: source.clone(),
                },
            )
        } else if let Some((name, holiday)) = carried.get(&date) {
            (
                false,
                DayReason::HolidayCarryOver {
                    name: name.clone(),
                    holiday: *holiday,
                },
            )
        } else {
            unreachable!("every special date comes from one of the maps")
        };
        special.insert(
            date,
            DayStatus {
                date,
                working: working_flag,
                reason,
            },
        );
    }
    Ok(special)
}

// ---------------------------------------------------------------------------------------------
// Parsing.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    format: Option<Spanned<i64>>,
    #[allow(dead_code)]
    country: Option<String>,
    time_zone: Option<Spanned<String>>,
    #[serde(default)]
    holiday: Vec<Spanned<RawRule>>,
    #[serde(default)]
    year: BTreeMap<Spanned<String>, Spanned<RawYear>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: Spanned<String>,
    month: Spanned<i64>,
    day: Spanned<i64>,
    from: Option<Spanned<i64>>,
    until: Option<Spanned<i64>>,
    #[serde(default)]
    religious: bool,
    #[allow(dead_code)]
    law: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawYear {
    source: Option<Spanned<String>>,
    notes: Option<String>,
    provisional: Option<bool>,
    #[serde(default)]
    holiday: Vec<Spanned<RawYearHoliday>>,
    #[serde(default)]
    transfer: Vec<Spanned<RawTransfer>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawYearHoliday {
    name: Spanned<String>,
    date: Spanned<toml::Value>,
    #[serde(default)]
    religious: bool,
    #[serde(default)]
    estimated: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTransfer {
    working_day: Option<Spanned<toml::Value>>,
    day_off: Option<Spanned<toml::Value>>,
    source: Option<Spanned<String>>,
    #[allow(dead_code)]
    note: Option<String>,
}

/// A parsed, validated file: complete or an override.
struct Doc {
    time_zone: Option<TimeZone>,
    rules: Vec<Rule>,
    years: BTreeMap<i16, YearDoc>,
}

struct YearDoc {
    span: Range<usize>,
    source: Option<String>,
    notes: Option<String>,
    provisional: Option<bool>,
    holidays: Vec<DatedHoliday>,
    transfers: Vec<Transfer>,
}

struct Ctx<'a> {
    text: &'a str,
    origin: &'a str,
}

impl Ctx<'_> {
    fn line_col(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
        (line, column)
    }

    fn err(&self, span: Range<usize>, field: &str, message: &str) -> CalendarError {
        let (line, column) = self.line_col(span.start);
        CalendarError::Parse {
            origin: self.origin.to_string(),
            line,
            column,
            message: format!("`{field}`: {message}"),
        }
    }

    fn toml_err(&self, e: &toml::de::Error) -> CalendarError {
        let (line, column, context) = match e.span() {
            Some(span) => {
                let (line, column) = self.line_col(span.start);
                let text = self.text.lines().nth(line - 1).unwrap_or("").trim();
                (line, column, format!(" (at `{text}`)"))
            }
            None => (1, 1, String::new()),
        };
        CalendarError::Parse {
            origin: self.origin.to_string(),
            line,
            column,
            message: format!("{}{context}", e.message().trim_end()),
        }
    }

    fn year_number(&self, v: &Spanned<i64>, field: &str) -> Result<i16, CalendarError> {
        match i16::try_from(*v.get_ref()) {
            Ok(y) if (1900..=2199).contains(&y) => Ok(y),
            _ => Err(self.err(
                v.span(),
                field,
                &format!(
                    "expected a year between 1900 and 2199, found {}",
                    v.get_ref()
                ),
            )),
        }
    }

    fn date(&self, v: &Spanned<toml::Value>, field: &str) -> Result<Date, CalendarError> {
        const EXPECTED: &str = "expected a date like 2024-03-21";
        let bad = |found: String| self.err(v.span(), field, &format!("{EXPECTED}, found {found}"));
        match v.get_ref() {
            toml::Value::Datetime(dt) => match (dt.date, dt.time, dt.offset) {
                // TOML dates have four-digit years, months and days in range: the
                // conversions cannot fail, but a failure would still be an error, not a wrap.
                (Some(d), None, None) => match (
                    i16::try_from(d.year),
                    i8::try_from(d.month),
                    i8::try_from(d.day),
                ) {
                    (Ok(y), Ok(m), Ok(day)) => Date::new(y, m, day).map_err(|e| bad(e.to_string())),
                    _ => Err(bad(dt.to_string())),
                },
                _ => Err(bad(format!("the date-time {dt}"))),
            },
            toml::Value::String(s) => parse_ymd(s).map_err(|why| bad(format!("\"{s}\" ({why})"))),
            other => Err(bad(format!("a {}", other.type_str()))),
        }
    }

    fn non_empty(&self, v: &Spanned<String>, field: &str) -> Result<String, CalendarError> {
        let s = v.get_ref().trim();
        if s.is_empty() {
            Err(self.err(v.span(), field, "expected a non-empty string"))
        } else {
            Ok(s.to_string())
        }
    }
}

/// Parses a strict `YYYY-MM-DD` date.
pub fn parse_ymd(s: &str) -> Result<Date, String> {
    let b = s.as_bytes();
    let shape_ok = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shape_ok {
        return Err("not of the form YYYY-MM-DD".to_string());
    }
    let num = |r: Range<usize>| s[r].parse::<i16>().expect("digits checked above");
    let (y, m, d) = (num(0..4), num(5..7), num(8..10));
    if !(1..=12).contains(&m) {
        return Err(format!("month {m} does not exist"));
    }
    Date::new(y, m as i8, d as i8).map_err(|_| format!("day {d} does not exist in {y}-{m:02}"))
}

fn parse_doc(text: &str, origin: &str) -> Result<Doc, CalendarError> {
    let ctx = Ctx { text, origin };
    let raw: RawFile = toml::from_str(text).map_err(|e| ctx.toml_err(&e))?;
    if let Some(f) = &raw.format
        && *f.get_ref() != 1
    {
        return Err(ctx.err(
            f.span(),
            "format",
            &format!(
                "expected 1 (the only format this qaqpa reads), found {}",
                f.get_ref()
            ),
        ));
    }
    let time_zone = match &raw.time_zone {
        None => None,
        Some(tz) => Some(TimeZone::get(tz.get_ref()).map_err(|_| {
            ctx.err(
                tz.span(),
                "time_zone",
                &format!(
                    "expected an IANA time zone name like \"Asia/Almaty\", found \"{}\"",
                    tz.get_ref()
                ),
            )
        })?),
    };

    let mut rules: Vec<Rule> = Vec::new();
    for r in &raw.holiday {
        let r_span = r.span();
        let r = r.get_ref();
        let name = ctx.non_empty(&r.name, "holiday.name")?;
        let field = |f: &str| format!("holiday \"{name}\": {f}");
        let month = match *r.month.get_ref() {
            m @ 1..=12 => m as i8,
            m => {
                return Err(ctx.err(
                    r.month.span(),
                    &field("month"),
                    &format!("expected a month 1–12, found {m}"),
                ));
            }
        };
        let day = match *r.day.get_ref() {
            // A leap year admits 29 February.
            d @ 1..=31 if Date::new(2024, month, d as i8).is_ok() => d as i8,
            d => {
                return Err(ctx.err(
                    r.day.span(),
                    &field("day"),
                    &format!("expected a day that exists in month {month}, found {d}"),
                ));
            }
        };
        let from = r
            .from
            .as_ref()
            .map(|v| ctx.year_number(v, &field("from")))
            .transpose()?;
        let until = r
            .until
            .as_ref()
            .map(|v| ctx.year_number(v, &field("until")))
            .transpose()?;
        if let (Some(f), Some(u)) = (from, until)
            && f > u
        {
            return Err(ctx.err(
                r_span,
                &field("until"),
                &format!("expected `until` ({u}) to be no earlier than `from` ({f})"),
            ));
        }
        let rule = Rule {
            name: name.clone(),
            month,
            day,
            from,
            until,
            religious: r.religious,
        };
        if let Some(other) = rules.iter().find(|o| {
            o.month == rule.month
                && o.day == rule.day
                && o.from.unwrap_or(i16::MIN) <= rule.until.unwrap_or(i16::MAX)
                && rule.from.unwrap_or(i16::MIN) <= o.until.unwrap_or(i16::MAX)
        }) {
            return Err(ctx.err(
                r_span,
                &field("month/day"),
                &format!(
                    "another rule (\"{}\") already gives {:02}-{:02} in overlapping years; give \
                     them disjoint `from`/`until` years",
                    other.name, rule.month, rule.day
                ),
            ));
        }
        rules.push(rule);
    }

    let mut years = BTreeMap::new();
    let mut transfer_dates: BTreeSet<Date> = BTreeSet::new();
    for (key, y) in &raw.year {
        let year = match key.get_ref().parse::<i16>() {
            Ok(v) if (1900..=2199).contains(&v) && key.get_ref().len() == 4 => v,
            _ => {
                return Err(ctx.err(
                    key.span(),
                    &format!("year.{}", key.get_ref()),
                    "expected a table named after a year, like [year.2028]",
                ));
            }
        };
        let y_span = y.span();
        let y = y.get_ref();
        let source = y
            .source
            .as_ref()
            .map(|s| ctx.non_empty(s, &format!("year.{year}.source")))
            .transpose()?;
        let mut holidays: Vec<DatedHoliday> = Vec::new();
        for h in &y.holiday {
            let h = h.get_ref();
            let field = format!("year.{year}.holiday.date");
            let name = ctx.non_empty(&h.name, &format!("year.{year}.holiday.name"))?;
            let date = ctx.date(&h.date, &field)?;
            if date.year() != year {
                return Err(ctx.err(
                    h.date.span(),
                    &field,
                    &format!("expected a date in {year}, found {date}"),
                ));
            }
            if holidays.iter().any(|o| o.date == date) {
                return Err(ctx.err(
                    h.date.span(),
                    &field,
                    &format!("{date} is already given a holiday in this file"),
                ));
            }
            holidays.push(DatedHoliday {
                name,
                date,
                religious: h.religious,
                estimated: h.estimated,
            });
        }
        let mut transfers = Vec::new();
        for t_sp in &y.transfer {
            let t = t_sp.get_ref();
            let prefix = format!("year.{year}.transfer");
            let mut get = |v: &Option<Spanned<toml::Value>>, name: &str| {
                let Some(v) = v else { return Ok(None) };
                let field = format!("{prefix}.{name}");
                let date = ctx.date(v, &field)?;
                if (date.year() - year).abs() > 1 {
                    return Err(ctx.err(
                        v.span(),
                        &field,
                        &format!("expected a date in {year} (or next to it), found {date}"),
                    ));
                }
                if !transfer_dates.insert(date) {
                    return Err(ctx.err(
                        v.span(),
                        &field,
                        &format!("{date} already appears in another transfer in this file"),
                    ));
                }
                Ok(Some(date))
            };
            let working_day = get(&t.working_day, "working_day")?;
            let day_off = get(&t.day_off, "day_off")?;
            if working_day.is_none() && day_off.is_none() {
                return Err(ctx.err(
                    t_sp.span(),
                    &prefix,
                    "expected `working_day = YYYY-MM-DD`, `day_off = YYYY-MM-DD` or both",
                ));
            }
            let source = match &t.source {
                Some(s) => ctx.non_empty(s, &format!("{prefix}.source"))?,
                None => {
                    return Err(ctx.err(
                        t_sp.span(),
                        &format!("{prefix}.source"),
                        "missing: a transfer must name the act that set it (number and date)",
                    ));
                }
            };
            transfers.push(Transfer {
                working_day,
                day_off,
                source,
            });
        }
        years.insert(
            year,
            YearDoc {
                span: y_span,
                source,
                notes: y.notes.clone(),
                provisional: y.provisional,
                holidays,
                transfers,
            },
        );
    }
    Ok(Doc {
        time_zone,
        rules,
        years,
    })
}

// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;
    use proptest::prelude::*;

    fn kz() -> BusinessCalendar {
        BusinessCalendar::kazakhstan()
    }

    fn working(d: Date) -> bool {
        kz().is_working_day(d).unwrap()
    }

    #[test]
    fn embedded_data_covers_2020_to_2027_with_sources() {
        let cal = kz();
        assert_eq!(cal.covered_years(), 2020..=2027);
        for y in 2020..=2027 {
            let s = cal.source(y).unwrap();
            assert!(s.contains("Law No. 267-II"), "{y}: {s}");
        }
        assert_eq!(cal.source(2019), None);
        assert!(cal.is_provisional(2027) && cal.is_provisional(2026));
        assert!(!cal.is_provisional(2024));
        assert!(cal.notes(2027).unwrap().contains("unknown"));
    }

    #[test]
    fn nauryz_is_non_working() {
        for y in 2020..=2027 {
            for d in 21..=23 {
                let st = kz().day(date(y, 3, d)).unwrap();
                assert!(!st.working, "{y}-03-{d}");
                if !is_weekend(st.date) {
                    assert_eq!(
                        st.reason,
                        DayReason::Holiday {
                            name: "Nauryz".into(),
                            estimated: false
                        }
                    );
                }
            }
        }
        // The day after Nauryz is back to work when nothing carries over (2023: Tue–Thu).
        assert!(working(date(2023, 3, 24)));
    }

    #[test]
    fn december_16_and_17() {
        for y in 2020..=2027 {
            assert!(!working(date(y, 12, 16)), "{y}-12-16");
        }
        // 17 December was a holiday until 2021 (a Friday in 2021) ...
        assert_eq!(date(2021, 12, 17).weekday(), Weekday::Friday);
        assert!(!working(date(2021, 12, 17)));
        // ... and is a plain working day from 2022 (2024 and 2025: weekdays, nothing carried).
        for y in [2024, 2025] {
            let st = kz().day(date(y, 12, 17)).unwrap();
            assert!(!is_weekend(st.date));
            assert!(st.working, "{y}-12-17");
            assert_eq!(st.reason, DayReason::Working);
        }
        // First President Day: a holiday in 2021 (Wednesday), a working day in 2022 (Thursday).
        assert!(!working(date(2021, 12, 1)));
        assert!(working(date(2022, 12, 1)));
        // Republic Day: from 2022 (2021-10-25 was a working Monday).
        assert!(working(date(2021, 10, 25)));
        assert!(!working(date(2022, 10, 25)));
    }

    #[test]
    fn transfers_make_a_saturday_working_and_a_weekday_off() {
        let cal = kz();
        let sat = cal.day(date(2024, 5, 4)).unwrap();
        assert_eq!(sat.date.weekday(), Weekday::Saturday);
        assert!(sat.working);
        assert!(matches!(
            sat.reason,
            DayReason::TransferredWorkingDay { instead_of: Some(d), ref source }
                if d == date(2024, 5, 8) && source.contains("No. 109")
        ));
        let wed = cal.day(date(2024, 5, 8)).unwrap();
        assert!(!wed.working);
        assert!(matches!(
            wed.reason,
            DayReason::TransferredDayOff { worked_on: Some(d), .. } if d == date(2024, 5, 4)
        ));
        // 2025: Sunday 5 January worked, Friday 3 January off.
        assert!(cal.is_working_day(date(2025, 1, 5)).unwrap());
        assert!(!cal.is_working_day(date(2025, 1, 3)).unwrap());
        // 2023: Saturday 1 July worked, Friday 7 July off (Capital Day on Thursday 6 July).
        assert!(cal.is_working_day(date(2023, 7, 1)).unwrap());
        assert!(!cal.is_working_day(date(2023, 7, 7)).unwrap());
        // An ordinary Saturday stays a weekend.
        assert_eq!(
            cal.day(date(2024, 5, 11)).unwrap().reason,
            DayReason::Weekend
        );
    }

    #[test]
    fn carry_overs() {
        let cal = kz();
        let co = |d: Date| cal.day(d).unwrap().reason;
        // Capital Day on Saturday 6 July 2024 -> Monday 8 July off.
        assert_eq!(
            co(date(2024, 7, 8)),
            DayReason::HolidayCarryOver {
                name: "Capital Day".into(),
                holiday: date(2024, 7, 6)
            }
        );
        // Nauryz 2024: 23 March is a Saturday -> Monday 25 March off, Tuesday 26 working.
        assert!(!working(date(2024, 3, 25)));
        assert!(working(date(2024, 3, 26)));
        // Nauryz 2020: Sat 21 + Sun 22, Mon 23 itself a holiday -> Tue 24 and Wed 25 off.
        assert!(!working(date(2020, 3, 24)));
        assert!(!working(date(2020, 3, 25)));
        assert!(working(date(2020, 3, 26)));
        // New Year 2023: Sunday 1 January, Monday 2 January a holiday -> Tuesday 3 off.
        assert_eq!(
            co(date(2023, 1, 3)),
            DayReason::HolidayCarryOver {
                name: "New Year".into(),
                holiday: date(2023, 1, 1)
            }
        );
        // 2022: Defender of the Fatherland Day on Saturday 7 May; Monday 9 May is Victory Day,
        // so the carried day is Tuesday 10 May.
        assert!(matches!(
            co(date(2022, 5, 10)),
            DayReason::HolidayCarryOver { holiday, .. } if holiday == date(2022, 5, 7)
        ));
        // Independence Day on Saturday 16 December 2023 -> Monday 18 December.
        assert!(!working(date(2023, 12, 18)));
        // 2026 (egov.kz calendar): 9 Mar, 24-25 Mar, 11 May, 31 Aug, 26 Oct.
        for (m, d) in [(3, 9), (3, 24), (3, 25), (5, 11), (8, 31), (10, 26)] {
            assert!(
                matches!(co(date(2026, m, d)), DayReason::HolidayCarryOver { .. }),
                "2026-{m:02}-{d:02}"
            );
        }
    }

    #[test]
    fn religious_holidays_do_not_carry_over() {
        // Kurban Ait on Sunday 16 June 2024: Monday 17 June is a working day.
        assert!(!working(date(2024, 6, 16)));
        assert!(working(date(2024, 6, 17)));
        // Orthodox Christmas on Saturday 7 January 2023: Monday 9 January is a working day.
        assert!(working(date(2023, 1, 9)));
        // Kurban Ait on Saturday 9 July 2022: Monday 11 July is a working day.
        assert!(working(date(2022, 7, 11)));
    }

    #[test]
    fn kurban_ait_dates() {
        let cal = kz();
        for (y, m, d) in [
            (2020, 7, 31),
            (2021, 7, 20),
            (2022, 7, 9),
            (2023, 6, 28),
            (2024, 6, 16),
            (2025, 6, 6),
            (2026, 5, 27),
        ] {
            assert_eq!(
                cal.day(date(y, m, d)).unwrap().reason,
                DayReason::Holiday {
                    name: "Kurban Ait".into(),
                    estimated: false
                },
                "{y}"
            );
        }
        assert_eq!(
            cal.day(date(2027, 5, 16)).unwrap().reason,
            DayReason::Holiday {
                name: "Kurban Ait".into(),
                estimated: true
            }
        );
        // The day before Kurban Ait 2023 (Tuesday) is a working day.
        assert!(cal.is_working_day(date(2023, 6, 27)).unwrap());
    }

    #[test]
    fn victory_day_2020_carry_over_was_transferred_to_friday() {
        let cal = kz();
        // Saturday 9 May 2020 would carry to Monday 11 May; Decree No. 820 moved it to Friday 8.
        let mon = cal.day(date(2020, 5, 11)).unwrap();
        assert!(mon.working);
        assert!(matches!(
            mon.reason,
            DayReason::TransferredWorkingDay { .. }
        ));
        assert!(!cal.is_working_day(date(2020, 5, 8)).unwrap());
    }

    #[test]
    fn ten_working_days_after_a_tuesday_before_nauryz() {
        let cal = kz();
        // By hand, 2024: from Tue 19 March: Wed 20 (1); Thu 21–Sat 23 Nauryz; Sun 24; Mon 25
        // carry-over; Tue 26 (2), Wed 27 (3), Thu 28 (4), Fri 29 (5), Mon 1 Apr (6), Tue 2 (7),
        // Wed 3 (8), Thu 4 (9), Fri 5 April (10).
        assert_eq!(date(2024, 3, 19).weekday(), Weekday::Tuesday);
        assert_eq!(
            cal.add_working_days(date(2024, 3, 19), 10).unwrap(),
            date(2024, 4, 5)
        );
        // 2025: from Tue 18 March: Wed 19 (1), Thu 20 (2); Fri 21–Sun 23 Nauryz; Mon 24 and
        // Tue 25 carry-overs; Wed 26 (3), Thu 27 (4), Fri 28 (5), Mon 31 (6), Tue 1 Apr (7),
        // Wed 2 (8), Thu 3 (9), Fri 4 April (10).
        assert_eq!(
            cal.add_working_days(date(2025, 3, 18), 10).unwrap(),
            date(2025, 4, 4)
        );
        assert_eq!(
            cal.working_days_between(date(2024, 3, 19), date(2024, 4, 5))
                .unwrap(),
            10
        );
        assert_eq!(
            cal.working_days_between(date(2024, 4, 5), date(2024, 3, 19))
                .unwrap(),
            -10
        );
        assert_eq!(
            cal.add_working_days(date(2024, 3, 19), 0).unwrap(),
            date(2024, 3, 19)
        );
        // From a Saturday, one working day is the Monday.
        assert_eq!(
            cal.add_working_days(date(2024, 4, 6), 1).unwrap(),
            date(2024, 4, 8)
        );
    }

    #[test]
    fn calendar_days() {
        let cal = kz();
        assert_eq!(
            cal.add_calendar_days(date(2024, 2, 28), 2).unwrap(),
            date(2024, 3, 1)
        );
        assert_eq!(
            cal.add_calendar_days(date(2024, 3, 1), -1).unwrap(),
            date(2024, 2, 29)
        );
        // Calendar days need no data: 2031 is fine.
        assert_eq!(
            cal.add_calendar_days(date(2031, 12, 31), 1).unwrap(),
            date(2032, 1, 1)
        );
    }

    /// Sums past either end of the date range are errors naming the range. 3 000 000 days
    /// used to saturate to 9999-12-31, and 7 304 485 days (more than a span holds) to panic.
    #[test]
    fn calendar_days_past_the_range_are_errors() {
        let cal = kz();
        // From 2025-03-20 to 9999-12-31 is 2 913 105 days (jiff's own count, checked by
        // going back from the last date).
        let last = date(9999, 12, 31);
        let to_end = date(2025, 3, 20).until(last).unwrap().get_days();
        assert_eq!(
            cal.add_calendar_days(last, -i64::from(to_end)).unwrap(),
            date(2025, 3, 20)
        );
        assert_eq!(
            cal.add_calendar_days(date(2025, 3, 20), i64::from(to_end))
                .unwrap(),
            last
        );
        for n in [
            i64::from(to_end) + 1,
            3_000_000,
            7_304_485,
            i64::from(u32::MAX),
            i64::MAX,
            -5_000_000,
            i64::MIN,
        ] {
            let e = cal.add_calendar_days(date(2025, 3, 20), n).unwrap_err();
            let msg = e.to_string();
            assert!(
                msg.contains("2025-03-20") && msg.contains(&n.unsigned_abs().to_string()),
                "{msg}"
            );
            assert!(msg.contains("-9999-01-01 to 9999-12-31"), "{msg}");
        }
        let e = cal
            .calendar_deadline_end("9999-12-01T00:00:00Z".parse().unwrap(), 60)
            .unwrap_err();
        assert!(e.to_string().contains("9999-12-31"), "{e}");
        let e = cal.end_of_day(date(9999, 12, 31)).unwrap_err();
        assert!(e.to_string().contains("Asia/Almaty"), "{e}");
    }

    #[test]
    fn almaty_moved_from_utc6_to_utc5_on_2024_03_01() {
        let tz = almaty();
        let utc = |s: &str| -> Timestamp { s.parse().unwrap() };
        let z = date(2024, 2, 29)
            .at(12, 0, 0, 0)
            .to_zoned(tz.clone())
            .unwrap();
        assert_eq!(z.timestamp(), utc("2024-02-29T06:00:00Z"));
        let z = date(2024, 3, 2)
            .at(12, 0, 0, 0)
            .to_zoned(tz.clone())
            .unwrap();
        assert_eq!(z.timestamp(), utc("2024-03-02T07:00:00Z"));
        // The switch: 2024-02-29 23:59 at UTC+6 is followed by 2024-02-29 23:00 at UTC+5.
        let before = utc("2024-02-29T17:59:00Z").to_zoned(tz.clone());
        assert_eq!(before.offset(), jiff::tz::offset(6));
        let after = utc("2024-02-29T18:00:00Z").to_zoned(tz);
        assert_eq!(after.offset(), jiff::tz::offset(5));
        assert_eq!(after.datetime(), date(2024, 2, 29).at(23, 0, 0, 0));
    }

    #[test]
    fn deadlines() {
        let cal = kz();
        // Received Tuesday 19 March 2024 at 15:00 Almaty (UTC+5): due by the end of Fri 5 April.
        let received: Timestamp = "2024-03-19T10:00:00Z".parse().unwrap();
        let due = cal.deadline_end(received, 10).unwrap();
        assert_eq!(
            due,
            "2024-04-05T18:59:59.999Z".parse::<Timestamp>().unwrap()
        );
        // Received at 23:30 Almaty on Monday 18 March (18:30 UTC): day 0 is the 18th.
        let late: Timestamp = "2024-03-18T18:30:00Z".parse().unwrap();
        assert_eq!(
            cal.deadline_end(late, 1).unwrap(),
            "2024-03-19T18:59:59.999Z".parse::<Timestamp>().unwrap()
        );
        // Before the zone change the end of the day is at 17:59:59.999 UTC (UTC+6).
        let feb: Timestamp = "2024-02-20T06:00:00Z".parse().unwrap();
        assert_eq!(
            cal.deadline_end(feb, 1).unwrap(),
            "2024-02-21T17:59:59.999Z".parse::<Timestamp>().unwrap()
        );
        // Calendar days: 60 days from 19 March 2024 is 18 May 2024 (a Saturday: no matter).
        assert_eq!(
            cal.calendar_deadline_end(received, 60).unwrap(),
            "2024-05-18T18:59:59.999Z".parse::<Timestamp>().unwrap()
        );
        // Day 0 only: the end of the day of receipt.
        assert_eq!(
            cal.deadline_end(received, 0).unwrap(),
            "2024-03-19T18:59:59.999Z".parse::<Timestamp>().unwrap()
        );
    }

    #[test]
    fn outside_the_covered_years() {
        let cal = kz();
        match cal.day(date(2028, 1, 3)) {
            Err(CalendarError::YearNotCovered {
                year: 2028,
                first: 2020,
                last: 2027,
            }) => {}
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            cal.is_working_day(date(2019, 12, 31)),
            Err(CalendarError::YearNotCovered { year: 2019, .. })
        ));
        // Working days running past the data fail rather than guess.
        assert!(matches!(
            cal.add_working_days(date(2027, 12, 20), 30),
            Err(CalendarError::YearNotCovered { year: 2028, .. })
        ));
        assert!(matches!(
            cal.working_days_between(date(2027, 12, 1), date(2028, 1, 10)),
            Err(CalendarError::YearNotCovered { year: 2028, .. })
        ));
        let msg = cal.day(date(2028, 1, 3)).unwrap_err().to_string();
        assert!(msg.contains("2028") && msg.contains("2020–2027") && msg.contains("[year.2028]"));
        let msg = cal.day(date(2030, 6, 1)).unwrap_err().to_string();
        assert!(msg.contains("[year.2028] to [year.2030]"), "{msg}");
    }

    fn write_temp(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("qaqpa-calendar-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn malformed_override_names_file_line_and_column() {
        let path = write_temp(
            "bad-syntax.toml",
            "format = 1\n\n[year.2028\nsource = \"x\"\n",
        );
        let err = kz().with_override_file(&path).unwrap_err();
        match &err {
            CalendarError::Parse {
                origin,
                line,
                column,
                ..
            } => {
                assert_eq!(origin, &path.display().to_string());
                assert_eq!(*line, 3);
                assert!(*column >= 1);
            }
            other => panic!("{other:?}"),
        }
        assert!(
            err.to_string()
                .starts_with(&format!("{}:3:", path.display()))
        );
    }

    #[test]
    fn bad_values_name_the_field_and_what_was_expected() {
        let text = "[year.2028]\nsource = \"test\"\n\n[[year.2028.transfer]]\nworking_day = \"2028-13-01\"\nsource = \"Order No. 1\"\n";
        let err = kz().with_override_str(text, "override.toml").unwrap_err();
        let CalendarError::Parse {
            origin,
            line,
            column,
            message,
        } = &err
        else {
            panic!("{err:?}")
        };
        assert_eq!(origin, "override.toml");
        assert_eq!((*line, *column), (5, 15));
        assert!(
            message.contains("year.2028.transfer.working_day"),
            "{message}"
        );
        assert!(
            message.contains("expected a date like 2024-03-21"),
            "{message}"
        );
        assert!(message.contains("month 13"), "{message}");

        // An unknown field (a typo) is refused with the expected names.
        let err = kz()
            .with_override_str("[[holiday]]\nname = \"X\"\nmonth = 4\ndya = 1\n", "o.toml")
            .unwrap_err();
        let CalendarError::Parse { line, message, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(*line, 4);
        assert!(
            message.contains("dya") && message.contains("day"),
            "{message}"
        );

        // A wrong type.
        let err = kz()
            .with_override_str(
                "[[holiday]]\nname = \"X\"\nmonth = \"April\"\nday = 1\n",
                "o.toml",
            )
            .unwrap_err();
        let CalendarError::Parse { line, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(*line, 3);

        // A transfer without its source.
        let err = kz()
            .with_override_str("[[year.2027.transfer]]\nday_off = 2027-05-17\n", "o.toml")
            .unwrap_err();
        assert!(err.to_string().contains("transfer.source"), "{err}");

        // A new year without a source.
        let err = kz()
            .with_override_str("[year.2028]\nnotes = \"x\"\n", "o.toml")
            .unwrap_err();
        assert!(err.to_string().contains("missing `source`"), "{err}");

        // A gap in the covered years.
        let err = kz()
            .with_override_str("[year.2029]\nsource = \"x\"\n", "o.toml")
            .unwrap_err();
        assert!(matches!(err, CalendarError::Invalid { .. }), "{err:?}");
        assert!(err.to_string().contains("[year.2028]"), "{err}");
    }

    #[test]
    fn missing_override_file_names_the_path() {
        let path = std::env::temp_dir().join("qaqpa-no-such-calendar.toml");
        let err = kz().with_override_file(&path).unwrap_err();
        assert!(matches!(err, CalendarError::Io { .. }));
        assert!(err.to_string().contains("qaqpa-no-such-calendar.toml"));
    }

    #[test]
    fn override_extends_and_corrects() {
        let text = r#"
            [year.2027]
            notes = "Kurban Ait published"
            provisional = false

            [[year.2027.holiday]]
            name = "Kurban Ait"
            date = 2027-05-17
            religious = true

            [[year.2027.transfer]]
            working_day = 2027-01-09
            day_off = 2027-01-08
            source = "Order No. 999 of 1 December 2026 (test)"

            [year.2028]
            source = "test data"

            [[year.2028.holiday]]
            name = "Kurban Ait"
            date = "2028-05-05"
            religious = true
        "#;
        let path = write_temp("extend.toml", text);
        let cal = kz().with_override_file(&path).unwrap();
        assert_eq!(cal.covered_years(), 2020..=2028);
        // The override's Kurban Ait replaces the embedded estimate.
        assert!(cal.is_working_day(date(2027, 5, 14)).unwrap());
        assert_eq!(
            cal.day(date(2027, 5, 16)).unwrap().reason,
            DayReason::Weekend
        );
        assert_eq!(
            cal.day(date(2027, 5, 17)).unwrap().reason,
            DayReason::Holiday {
                name: "Kurban Ait".into(),
                estimated: false
            }
        );
        assert!(!cal.is_provisional(2027));
        assert!(cal.source(2027).unwrap().contains("Amended by"));
        assert!(!cal.is_working_day(date(2027, 1, 8)).unwrap());
        assert!(cal.is_working_day(date(2027, 1, 9)).unwrap());
        // 2028 uses the yearly rules: 1 January 2028 is a Saturday, carried to Monday 3,
        // 2 January (Sunday) to Tuesday 4.
        assert!(!cal.is_working_day(date(2028, 1, 3)).unwrap());
        assert!(!cal.is_working_day(date(2028, 1, 4)).unwrap());
        assert!(cal.is_working_day(date(2028, 1, 5)).unwrap());
        assert_eq!(cal.source(2028), Some("test data"));
        assert_eq!(cal.origins().len(), 2);

        // A corrected transfer replaces the embedded one sharing its date.
        let fix = "[[year.2024.transfer]]\nworking_day = 2024-05-04\nday_off = 2024-05-10\nsource = \"corrected (test)\"\n";
        let cal = kz().with_override_str(fix, "fix.toml").unwrap();
        assert!(cal.is_working_day(date(2024, 5, 8)).unwrap());
        assert!(!cal.is_working_day(date(2024, 5, 10)).unwrap());

        // A working_day alone cancels a day off.
        let cancel = "[[year.2024.transfer]]\nworking_day = 2024-07-08\nsource = \"test\"\n";
        let cal = kz().with_override_str(cancel, "c.toml").unwrap();
        assert!(cal.is_working_day(date(2024, 7, 8)).unwrap());

        // An override rule replaces the rule with the same month and day.
        let rule = "[[holiday]]\nname = \"Republic Day\"\nmonth = 10\nday = 25\nfrom = 2025\n";
        let cal = kz().with_override_str(rule, "r.toml").unwrap();
        assert!(cal.is_working_day(date(2024, 10, 25)).unwrap());
        assert!(!cal.is_working_day(date(2025, 10, 24 + 3)).unwrap()); // carried to Mon 27
    }

    #[test]
    fn day_reason_serializes_with_a_kind() {
        let st = kz().day(date(2024, 5, 8)).unwrap();
        let v = serde_json::to_value(&st).unwrap();
        assert_eq!(v["date"], "2024-05-08");
        assert_eq!(v["working"], false);
        assert_eq!(v["reason"]["kind"], "transferred_day_off");
        assert_eq!(v["reason"]["worked_on"], "2024-05-04");
        assert!(
            st.reason
                .summary()
                .starts_with("transferred day off (worked on 2024-05-04;")
        );
        let hol = kz().day(date(2024, 3, 21)).unwrap();
        assert_eq!(hol.reason.summary(), "holiday: Nauryz");
        assert_eq!(
            serde_json::to_value(&hol.reason).unwrap()["kind"],
            "holiday"
        );
    }

    #[test]
    fn special_days_of_2024() {
        let days = kz().special_days(2024).unwrap();
        let off: Vec<String> = days
            .iter()
            .filter(|s| !s.working && !is_weekend(s.date))
            .map(|s| s.date.to_string())
            .collect();
        assert_eq!(
            off,
            [
                "2024-01-01",
                "2024-01-02",
                "2024-03-08",
                "2024-03-21",
                "2024-03-22",
                "2024-03-25",
                "2024-05-01",
                "2024-05-07",
                "2024-05-08",
                "2024-05-09",
                "2024-07-08",
                "2024-08-30",
                "2024-10-25",
                "2024-12-16",
            ]
        );
    }

    #[test]
    fn working_days_per_year() {
        let cal = kz();
        let count = |y: i16| {
            cal.working_days_between(date(y - 1, 12, 31), date(y, 12, 31))
                .unwrap()
        };
        // By hand, 2024: 262 weekdays (366 days from a Monday), minus the 14 weekday days off
        // listed in `special_days_of_2024`, plus the working Saturday 4 May = 249.
        assert_eq!(count(2024), 249);
        // 2020 (from a Wednesday, 366 days: 262 weekdays): weekday days off 1, 2, 3, 7 Jan;
        // 9, 23, 24, 25 Mar; 1, 7, 8 May; 6, 31 Jul; 31 Aug; 1, 16, 17, 18 Dec (18 days);
        // 11 May is a carry-over turned working day and Sundays 5 Jan and 20 Dec are worked:
        // 262 - 18 + 2 = 246.
        assert_eq!(count(2020), 246);
    }

    /// Weekday days off per year as listed independently by the python "holidays" library's
    /// snapshot (vacanza/holidays, snapshots/countries/KZ_COMMON.json), which this data does not
    /// read; its holidays, observed days and substituted days that fall on Monday–Friday.
    const WEEKDAYS_OFF: [(i16, &str); 8] = [
        (
            2020,
            "01-01 01-02 01-03 01-07 03-09 03-23 03-24 03-25 05-01 05-07 05-08 07-06 07-31 08-31 12-01 12-16 12-17 12-18",
        ),
        (
            2021,
            "01-01 01-04 01-07 03-08 03-22 03-23 03-24 05-03 05-07 05-10 07-05 07-06 07-20 08-30 12-01 12-16 12-17",
        ),
        (
            2022,
            "01-03 01-04 01-07 03-07 03-08 03-21 03-22 03-23 05-02 05-09 05-10 07-06 08-29 08-30 10-24 10-25 12-16",
        ),
        (
            2023,
            "01-02 01-03 03-08 03-21 03-22 03-23 05-01 05-08 05-09 06-28 07-06 07-07 08-30 10-25 12-18",
        ),
        (
            2024,
            "01-01 01-02 03-08 03-21 03-22 03-25 05-01 05-07 05-08 05-09 07-08 08-30 10-25 12-16",
        ),
        (
            2025,
            "01-01 01-02 01-03 01-07 03-10 03-21 03-24 03-25 05-01 05-07 05-09 06-06 07-07 09-01 10-27 12-16",
        ),
        (
            2026,
            "01-01 01-02 01-07 03-09 03-23 03-24 03-25 05-01 05-07 05-11 05-27 07-06 08-31 10-26 12-16",
        ),
        (
            2027,
            "01-01 01-04 01-07 03-08 03-22 03-23 03-24 05-03 05-07 05-10 07-06 08-30 10-25 12-16",
        ),
    ];

    #[test]
    fn every_day_2020_to_2027_matches_an_independent_listing() {
        let cal = kz();
        let worked_weekend_days = [
            "2020-01-05",
            "2020-12-20",
            "2021-07-03",
            "2022-03-05",
            "2022-08-27",
            "2022-10-22",
            "2023-07-01",
            "2024-05-04",
            "2025-01-05",
        ];
        for (year, listed) in WEEKDAYS_OFF {
            let mut weekdays_off = Vec::new();
            let mut weekend_worked = Vec::new();
            let mut d = date(year, 1, 1);
            while d.year() == year {
                let working = cal.is_working_day(d).unwrap();
                if !is_weekend(d) && !working {
                    weekdays_off.push(d.strftime("%m-%d").to_string());
                }
                if is_weekend(d) && working {
                    weekend_worked.push(d.to_string());
                }
                d = d.tomorrow().unwrap();
            }
            assert_eq!(weekdays_off.join(" "), listed, "{year}");
            let expected: Vec<&str> = worked_weekend_days
                .iter()
                .copied()
                .filter(|s| s.starts_with(&year.to_string()))
                .collect();
            assert_eq!(weekend_worked, expected, "{year}");
        }
    }

    fn covered_date(offset: i64) -> Date {
        date(2020, 1, 1).checked_add(offset.days()).unwrap()
    }

    proptest! {
        #[test]
        fn add_working_days_lands_on_a_working_day(off in 0i64..2500, n in 1u32..250) {
            let cal = kz();
            let d = covered_date(off);
            let r = cal.add_working_days(d, n).unwrap();
            prop_assert!(r > d);
            prop_assert!(cal.is_working_day(r).unwrap());
            prop_assert_eq!(cal.working_days_between(d, r).unwrap(), i64::from(n));
            prop_assert_eq!(cal.working_days_between(r, d).unwrap(), -i64::from(n));
        }

        #[test]
        fn add_working_days_is_monotonic(off in 0i64..2500, gap in 0i64..40, n in 0u32..250) {
            let cal = kz();
            let d1 = covered_date(off);
            let d2 = covered_date(off + gap);
            let a = cal.add_working_days(d1, n).unwrap();
            let b = cal.add_working_days(d1, n + 1).unwrap();
            prop_assert!(a < b, "strictly increasing in n");
            let c = cal.add_working_days(d2, n).unwrap();
            prop_assert!(a <= c, "non-decreasing in d");
        }
    }
}
