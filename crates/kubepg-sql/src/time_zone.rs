//! The session's `TimeZone` as PostgreSQL reads and shows it, and timestamps in PostgreSQL's
//! text form in that zone. Arrow and pgwire print timestamps their own way (RFC 3339, always
//! six fractional digits, in the column's own zone); psql users, and clients that parse text
//! results, expect `2026-11-23 14:00:01+01` in the zone they set.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use chrono::{DateTime, Datelike, FixedOffset, NaiveDateTime, Offset, TimeZone, Timelike};
use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, TimeUnit, TimestampMicrosecondType};

/// The tz database's zones by lower-case name: sessions parse their zone for every result.
static ZONES: LazyLock<HashMap<String, chrono_tz::Tz>> = LazyLock::new(|| {
    chrono_tz::TZ_VARIANTS
        .iter()
        .map(|tz| (tz.name().to_ascii_lowercase(), *tz))
        .collect()
});

/// A `TimeZone` setting: a tz database zone, or a fixed offset.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionZone {
    zone: Zone,
    /// The value as `SHOW TimeZone` answers it.
    shown: String,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Zone {
    Named(chrono_tz::Tz),
    Fixed(FixedOffset),
}

impl SessionZone {
    pub fn utc() -> Self {
        Self {
            zone: Zone::Named(chrono_tz::UTC),
            shown: "UTC".into(),
        }
    }

    /// A `TimeZone` value as PostgreSQL takes it in `SET timezone = '…'` and the startup
    /// packet: a tz database name in any case (shown as the database spells it), or a POSIX
    /// offset such as `+03:00` or `UTC+3`, where positive means west of Greenwich (shown as
    /// written). `None` for anything else, which PostgreSQL refuses too.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if let Some(tz) = ZONES.get(&text.to_ascii_lowercase()) {
            return Some(Self {
                zone: Zone::Named(*tz),
                shown: tz.name().to_string(),
            });
        }
        let offset = posix_offset(text)?;
        Some(Self {
            zone: Zone::Fixed(FixedOffset::west_opt(offset)?),
            shown: text.to_string(),
        })
    }

    /// `SET TIME ZONE -5` or `SET TIME ZONE INTERVAL '+05:30' HOUR TO MINUTE`: a number of
    /// seconds east of Greenwich, shown as PostgreSQL shows it (`<-05>+05`).
    pub fn east_of_utc(seconds: i32) -> Option<Self> {
        let offset = FixedOffset::east_opt(seconds)?;
        Some(Self {
            zone: Zone::Fixed(offset),
            shown: format!(
                "<{}>{}",
                offset_text(seconds, ":"),
                offset_text(-seconds, ":")
            ),
        })
    }

    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// The zone as Arrow names it, for DataFusion's `execution.time_zone`: a tz database
    /// name, or `+HH:MM` east of Greenwich.
    pub fn engine_name(&self) -> String {
        match self.zone {
            Zone::Named(tz) => tz.name().to_string(),
            Zone::Fixed(offset) => {
                let east = offset.local_minus_utc();
                let sign = if east < 0 { '-' } else { '+' };
                let minutes = east.unsigned_abs() / 60;
                format!("{sign}{:02}:{:02}", minutes / 60, minutes % 60)
            }
        }
    }

    /// The offset east of Greenwich in force at `utc`.
    fn offset_at(&self, utc: &NaiveDateTime) -> i32 {
        match self.zone {
            Zone::Named(tz) => tz.offset_from_utc_datetime(utc).fix().local_minus_utc(),
            Zone::Fixed(offset) => offset.local_minus_utc(),
        }
    }

    /// A `timestamptz` given in microseconds since the epoch, as PostgreSQL prints it with
    /// `DateStyle` ISO: local time, as few fractional digits as it needs, and the offset.
    pub fn timestamptz_text(&self, micros: i64) -> Option<String> {
        let utc = DateTime::from_timestamp_micros(micros)?.naive_utc();
        let east = self.offset_at(&utc);
        let local = utc.checked_add_signed(chrono::Duration::seconds(east.into()))?;
        let (date, era) = date_and_era(&local);
        Some(format!(
            "{date} {}{}{era}",
            time_text(&local),
            offset_text(east, ":")
        ))
    }
}

/// A `timestamp` (no zone) as PostgreSQL prints it with `DateStyle` ISO.
pub fn timestamp_text(micros: i64) -> Option<String> {
    let local = DateTime::from_timestamp_micros(micros)?.naive_utc();
    let (date, era) = date_and_era(&local);
    Some(format!("{date} {}{era}", time_text(&local)))
}

/// Timestamp columns as the text PostgreSQL prints for them (`timestamptz` in `zone`);
/// `None` when `array` holds no timestamps.
pub fn timestamps_as_text(array: &dyn Array, zone: &SessionZone) -> Option<ArrayRef> {
    let DataType::Timestamp(_, tz) = array.data_type() else {
        return None;
    };
    let micros = cast(
        array,
        &DataType::Timestamp(TimeUnit::Microsecond, tz.clone()),
    )
    .ok()?;
    let micros = micros.as_primitive::<TimestampMicrosecondType>();
    let mut out = StringBuilder::with_capacity(micros.len(), micros.len() * 26);
    for value in micros.iter() {
        let text = value.and_then(|v| match tz {
            Some(_) => zone.timestamptz_text(v),
            None => timestamp_text(v),
        });
        out.append_option(text);
    }
    Some(Arc::new(out.finish()))
}

/// `YYYY-MM-DD`, and ` BC` for years before 1 (PostgreSQL has no year 0).
fn date_and_era(t: &NaiveDateTime) -> (String, &'static str) {
    let (year, era) = match t.year() {
        y if y <= 0 => (1 - y, " BC"),
        y => (y, ""),
    };
    (format!("{year:04}-{:02}-{:02}", t.month(), t.day()), era)
}

fn time_text(t: &NaiveDateTime) -> String {
    let micros = t.nanosecond() / 1000 % 1_000_000;
    let mut text = format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second());
    if micros != 0 {
        let fraction = format!(".{micros:06}");
        text.push_str(fraction.trim_end_matches('0'));
    }
    text
}

/// `+HH`, `+HH:MM` or `+HH:MM:SS`, as long as the offset needs, `sep` between the parts.
fn offset_text(east: i32, sep: &str) -> String {
    let sign = if east < 0 { '-' } else { '+' };
    let s = east.unsigned_abs();
    let (h, m, sec) = (s / 3600, s / 60 % 60, s % 60);
    match (m, sec) {
        (0, 0) => format!("{sign}{h:02}"),
        (_, 0) => format!("{sign}{h:02}{sep}{m:02}"),
        _ => format!("{sign}{h:02}{sep}{m:02}{sep}{sec:02}"),
    }
}

/// Seconds west of Greenwich of a POSIX fixed-offset zone: `[+-]h[h][:mm[:ss]]`, optionally
/// after a zone abbreviation (`UTC+3`, `<-05>+05`).
fn posix_offset(text: &str) -> Option<i32> {
    let rest = if let Some(quoted) = text.strip_prefix('<') {
        &quoted[quoted.find('>')? + 1..]
    } else {
        let letters = text.find(|c: char| !c.is_ascii_alphabetic())?;
        if letters != 0 && letters < 3 {
            return None;
        }
        &text[letters..]
    };
    let (sign, digits) = match rest.as_bytes().first()? {
        b'+' => (1, &rest[1..]),
        b'-' => (-1, &rest[1..]),
        _ => (1, rest),
    };
    let mut parts = digits.split(':');
    let mut seconds = 0;
    for (i, unit) in [3600, 60, 1].into_iter().enumerate() {
        let Some(part) = parts.next() else { break };
        if part.is_empty() || part.len() > 2 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n: i32 = part.parse().ok()?;
        if i > 0 && n >= 60 {
            return None;
        }
        seconds += n * unit;
    }
    if parts.next().is_some() || seconds > 15 * 3600 + 59 * 60 {
        return None;
    }
    Some(sign * seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn micros(text: &str) -> i64 {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .timestamp_micros()
    }

    /// Each expected text is what PostgreSQL 15 printed for the same value and zone.
    #[test]
    fn timestamptz_prints_as_postgresql_prints_it() {
        let utc = SessionZone::utc();
        let kolkata = SessionZone::parse("asia/kolkata").unwrap();
        let paris = SessionZone::parse("Europe/Paris").unwrap();
        let cases = [
            (&utc, "2026-11-23T13:00:01Z", "2026-11-23 13:00:01+00"),
            (&utc, "2026-11-23T13:00:01.5Z", "2026-11-23 13:00:01.5+00"),
            (
                &utc,
                "2026-11-23T13:00:01.12345Z",
                "2026-11-23 13:00:01.12345+00",
            ),
            (
                &kolkata,
                "2026-11-23T13:00:01Z",
                "2026-11-23 18:30:01+05:30",
            ),
            (
                &kolkata,
                "1850-01-01T00:00:00Z",
                "1850-01-01 05:53:28+05:53:28",
            ),
            (
                &paris,
                "1850-01-01T00:00:00Z",
                "1850-01-01 00:09:21+00:09:21",
            ),
            (&paris, "2026-07-01T12:00:00Z", "2026-07-01 14:00:00+02"),
        ];
        for (zone, value, expected) in cases {
            assert_eq!(
                zone.timestamptz_text(micros(value)).unwrap(),
                expected,
                "{value}"
            );
        }
        assert_eq!(kolkata.shown(), "Asia/Kolkata");
    }

    #[test]
    fn posix_offsets_count_west_as_postgresql_does() {
        let zone = SessionZone::parse("+03:00").unwrap();
        assert_eq!(zone.shown(), "+03:00");
        assert_eq!(
            zone.timestamptz_text(micros("2026-11-23T13:00:01Z"))
                .unwrap(),
            "2026-11-23 10:00:01-03"
        );
        assert_eq!(zone.engine_name(), "-03:00");
        let abbreviated = SessionZone::parse("UTC+3").unwrap();
        assert_eq!(abbreviated.engine_name(), "-03:00");
        let east = SessionZone::east_of_utc(-5 * 3600).unwrap();
        assert_eq!(east.shown(), "<-05>+05");
        assert_eq!(
            SessionZone::east_of_utc(5 * 3600 + 1800).unwrap().shown(),
            "<+05:30>-05:30"
        );
        for bad in ["Foo/Bar", "", "+", "25", "+03:75", "ab+3", "+1:2:3:4"] {
            assert!(SessionZone::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn timestamps_without_a_zone_and_before_the_era() {
        assert_eq!(
            timestamp_text(micros("2026-11-23T13:00:01.250Z")).unwrap(),
            "2026-11-23 13:00:01.25"
        );
        let bc = chrono::NaiveDate::from_ymd_opt(-56, 3, 15)
            .and_then(|d| d.and_hms_opt(12, 0, 0))
            .unwrap();
        assert_eq!(
            timestamp_text(bc.and_utc().timestamp_micros()).unwrap(),
            "0057-03-15 12:00:00 BC"
        );
    }
}
