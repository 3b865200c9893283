//! Conversions between the simulation's instants and Asia/Almaty civil time.

use jiff::Timestamp;
use jiff::civil::{Date, DateTime, Time};

use crate::calendar::almaty;

/// The instant of a local Almaty time (the earlier one if the wall clock repeated it, as it
/// did when Almaty moved from UTC+6 to UTC+5 on 2024-03-01).
pub fn instant(local: DateTime) -> Timestamp {
    local
        .to_zoned(almaty())
        .expect("Almaty civil times are within jiff's range")
        .timestamp()
}

/// The last instant of a local day.
pub fn end_of_day(date: Date) -> Timestamp {
    instant(date.to_datetime(Time::MAX))
}

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
        let t = instant("2025-03-20T18:30".parse().unwrap());
        assert_eq!(t, "2025-03-20T13:30:00Z".parse::<Timestamp>().unwrap());
        assert_eq!(
            display(end_of_day("2025-04-03".parse().unwrap())),
            "2025-04-03T23:59:59+05:00"
        );
    }
}
