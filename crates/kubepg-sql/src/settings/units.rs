//! Durations as PostgreSQL's time settings take and show them.

use std::time::Duration;

/// Text that is not a duration a time setting takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotADuration;

/// `5000`, `'5s'`, `'1min'`, `'250ms'`, `'1h'`, `'2d'`: a bare number is milliseconds, as in
/// PostgreSQL. Values past what a timeout can mean (PostgreSQL's limit is `INT_MAX` ms) are
/// refused rather than wrapped.
pub fn parse_duration(text: &str) -> Result<Duration, NotADuration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().map_err(|_| NotADuration)?;
    let scale: u64 = match unit.trim() {
        "" | "ms" => 1,
        "s" => 1000,
        "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(NotADuration),
    };
    let ms = n.checked_mul(scale).ok_or(NotADuration)?;
    if ms > i32::MAX as u64 {
        return Err(NotADuration);
    }
    Ok(Duration::from_millis(ms))
}

/// A duration the way `SHOW` prints it: the largest whole unit.
pub fn show_duration(d: Duration) -> String {
    let ms = d.as_millis();
    match ms {
        0 => "0".into(),
        ms if ms % 86_400_000 == 0 => format!("{}d", ms / 86_400_000),
        ms if ms % 3_600_000 == 0 => format!("{}h", ms / 3_600_000),
        ms if ms % 60_000 == 0 => format!("{}min", ms / 60_000),
        ms if ms % 1000 == 0 => format!("{}s", ms / 1000),
        ms => format!("{ms}ms"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_postgresql_and_show_in_the_largest_whole_unit() {
        assert_eq!(parse_duration("5000"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2min"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("soon"), Err(NotADuration));
        assert_eq!(show_duration(Duration::from_secs(300)), "5min");
        assert_eq!(show_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(show_duration(Duration::from_secs(86_400)), "1d");
        assert_eq!(show_duration(Duration::ZERO), "0");
    }

    #[test]
    fn a_duration_too_long_for_a_timeout_is_refused_not_wrapped() {
        assert_eq!(parse_duration("99999999999999999s"), Err(NotADuration));
        assert_eq!(parse_duration("99999999999999999d"), Err(NotADuration));
        assert_eq!(parse_duration("99999999999999999999"), Err(NotADuration));
        assert_eq!(parse_duration("24d"), Ok(Duration::from_secs(24 * 86_400)));
        assert_eq!(parse_duration("25d"), Err(NotADuration));
    }
}
