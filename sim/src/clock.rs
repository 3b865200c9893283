//! Conversions between the simulation's instants and Asia/Almaty civil time.
//!
//! An instant is a `jiff::Timestamp`, whose range (about -9999-01-02 to 9999-12-30 UTC) is
//! narrower than the civil times a scenario file can write: a local time near either end has
//! no instant. Every conversion from civil time is therefore checked and its error names the
//! range, never a panic.

use jiff::Timestamp;
use jiff::civil::{Date, DateTime, Time};

use crate::calendar::{CalendarError, almaty};

/// The first and last Almaty civil times that have an instant.
pub fn local_range() -> (DateTime, DateTime) {
    (local(Timestamp::MIN), local(Timestamp::MAX))
}

/// The range of instants, said for error messages.
pub fn range_text() -> String {
    let (first, last) = local_range();
    format!(
        "qaqpa's clock runs from {} to {} Asia/Almaty time",
        to_second(first),
        to_second(last)
    )
}

/// `t` without its fraction of a second.
fn to_second(t: DateTime) -> DateTime {
    t.with().subsec_nanosecond(0).build().unwrap_or(t)
}

/// The instant of a local Almaty time (the earlier one if the wall clock repeated it, as it
/// did when Almaty moved from UTC+6 to UTC+5 on 2024-03-01); an error naming the clock's range
/// when the time has no instant.
pub fn instant(local: DateTime) -> Result<Timestamp, CalendarError> {
    local
        .to_zoned(almaty())
        .map(|z| z.timestamp())
        .map_err(|_| CalendarError::OutOfRange {
            what: format!("the Almaty time {local}"),
            limit: range_text(),
        })
}

/// The last instant of a local day.
pub fn end_of_day(date: Date) -> Result<Timestamp, CalendarError> {
    instant(date.to_datetime(Time::MAX)).map_err(|_| CalendarError::OutOfRange {
        what: format!("the end of {date}"),
        limit: range_text(),
    })
}

/// The Almaty civil time of an instant (every instant has one).
pub fn local(t: Timestamp) -> DateTime {
    t.to_zoned(almaty()).datetime()
}

/// RFC 3339 with the Almaty offset of that instant, to the second: how reports show time.
pub fn display(t: Timestamp) -> String {
    t.to_zoned(almaty())
        .strftime("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_follow_the_2024_change() {
        assert_eq!(
            display("2024-02-29T06:00:00Z".parse().unwrap()),
            "2024-02-29T12:00:00+06:00"
        );
        assert_eq!(
            display("2024-03-02T07:00:00Z".parse().unwrap()),
            "2024-03-02T12:00:00+05:00"
        );
        let t = instant("2025-03-20T18:30".parse().unwrap()).unwrap();
        assert_eq!(t, "2025-03-20T13:30:00Z".parse::<Timestamp>().unwrap());
        assert_eq!(
            display(end_of_day("2025-04-03".parse().unwrap()).unwrap()),
            "2025-04-03T23:59:59+05:00"
        );
    }

    /// Civil times at either end of the calendar have no instant: jiff's timestamps stop a
    /// day short of its civil dates so that every offset fits. These used to panic.
    #[test]
    fn times_without_an_instant_are_errors_naming_the_range() {
        for t in [
            "9999-12-31T23:59",
            "9999-12-31T03:01",
            "-009999-01-01T00:00",
            "-009999-01-02T07:00",
        ] {
            let e = instant(t.parse().unwrap()).unwrap_err().to_string();
            assert!(
                e.contains(t) && e.contains("Asia/Almaty") && e.contains("9999-12-31T03:00:00"),
                "{e}"
            );
        }
        let e = end_of_day("9999-12-31".parse().unwrap()).unwrap_err();
        assert!(e.to_string().contains("the end of 9999-12-31"), "{e}");
        // The ends themselves are instants: Almaty was UTC+5 from 1992 on (jiff's database
        // extends the last rule) and on local mean time (+05:07:48) before 1924.
        let (first, last) = local_range();
        assert_eq!(last.date(), "9999-12-31".parse().unwrap());
        assert_eq!(first.date(), "-009999-01-02".parse().unwrap());
        assert!(instant(to_second(last)).is_ok());
        assert!(instant(first).is_ok());
        assert!(instant("9999-12-31T03:00".parse().unwrap()).is_ok());
    }
}
