//! Time formatting for token claims: RFC 3339 UTC and "3 min ago", without a date crate.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, now.
pub(crate) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day); Howard Hinnant's
/// `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let d = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let m = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let year = if m <= 2 { y + 1 } else { y };
    (year, m as u32, d as u32)
}

/// Earliest and latest instants shown as dates (years 0000 to 9999).
const MIN_SHOWN: i64 = -62_167_219_200;
const MAX_SHOWN: i64 = 253_402_300_799;

/// `secs` since the epoch as RFC 3339 UTC (`2026-11-23T10:00:00Z`); `None` outside years
/// 0000-9999.
pub(crate) fn rfc3339(secs: i64) -> Option<String> {
    if !(MIN_SHOWN..=MAX_SHOWN).contains(&secs) {
        return None;
    }
    let days = secs.div_euclid(86_400);
    let rest = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    Some(format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    ))
}

/// A duration in seconds, short and rounded down: `42 s`, `3 min`, `5 h 2 min`, `12 d`.
pub(crate) fn span(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min", secs / 60),
        3600..86_400 => match secs % 3600 / 60 {
            0 => format!("{} h", secs / 3600),
            min => format!("{} h {min} min", secs / 3600),
        },
        _ => format!("{} d", secs / 86_400),
    }
}

/// `at` relative to `now`: `3 min ago`, `in 59 min`, `now`.
pub(crate) fn relative(at: i64, now: i64) -> String {
    let delta = i128::from(at) - i128::from(now);
    let magnitude = u64::try_from(delta.unsigned_abs()).unwrap_or(u64::MAX);
    if delta == 0 {
        "now".to_owned()
    } else if delta < 0 {
        format!("{} ago", span(magnitude))
    } else {
        format!("in {}", span(magnitude))
    }
}

/// `2026-11-23T10:00:00Z (3 min ago)`, or the raw number when out of range.
pub(crate) fn describe(at: i64, now: i64) -> String {
    match rfc3339(at) {
        Some(date) => format!("{date} ({})", relative(at, now)),
        None => format!("{at} (out of the representable range)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known_instants() {
        assert_eq!(rfc3339(0).as_deref(), Some("1970-01-01T00:00:00Z"));
        assert_eq!(
            rfc3339(951_782_400).as_deref(),
            Some("2000-02-29T00:00:00Z")
        );
        assert_eq!(
            rfc3339(951_868_799).as_deref(),
            Some("2000-02-29T23:59:59Z")
        );
        assert_eq!(
            rfc3339(1_700_000_000).as_deref(),
            Some("2023-11-14T22:13:20Z")
        );
        assert_eq!(
            rfc3339(4_102_444_800).as_deref(),
            Some("2100-01-01T00:00:00Z")
        );
        assert_eq!(
            rfc3339(1_798_020_000).as_deref(),
            Some("2026-12-23T10:00:00Z")
        );
        assert_eq!(rfc3339(-1).as_deref(), Some("1969-12-31T23:59:59Z"));
        assert_eq!(rfc3339(MAX_SHOWN).as_deref(), Some("9999-12-31T23:59:59Z"));
        assert_eq!(rfc3339(MIN_SHOWN).as_deref(), Some("0000-01-01T00:00:00Z"));
        assert_eq!(rfc3339(MAX_SHOWN + 1), None);
        assert_eq!(rfc3339(i64::MIN), None);
    }

    #[test]
    fn every_day_of_four_centuries_round_trips() {
        // Days from civil (the inverse), to check civil_from_days on every day of 1600..2400.
        fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
            let y = if m <= 2 { y - 1 } else { y };
            let era = y.div_euclid(400);
            let yoe = y.rem_euclid(400);
            let mp = i64::from((m + 9) % 12);
            let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
            let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
            era * 146_097 + doe - 719_468
        }
        let mut previous = civil_from_days(-135_141);
        for days in -135_140..157_071 {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
            assert!((1..=12).contains(&m) && (1..=31).contains(&d));
            assert!((y, m, d) > previous);
            previous = (y, m, d);
        }
    }

    #[test]
    fn relative_spans() {
        assert_eq!(relative(100, 100), "now");
        assert_eq!(relative(90, 100), "10 s ago");
        assert_eq!(relative(100 + 59 * 60 + 59, 100), "in 59 min");
        assert_eq!(relative(0, 3 * 60 + 5), "3 min ago");
        assert_eq!(relative(0, 3600), "1 h ago");
        assert_eq!(relative(7500, 0), "in 2 h 5 min");
        assert_eq!(relative(0, 86_400 * 3 + 5), "3 d ago");
        assert_eq!(
            relative(i64::MIN, i64::MAX),
            format!("{} d ago", u64::MAX / 86_400)
        );
        assert_eq!(
            describe(1_700_000_000, 1_700_000_180),
            "2023-11-14T22:13:20Z (3 min ago)"
        );
    }
}
