//! The day grid: a local date's waking span cut into real 10-minute blocks.
//!
//! The grid runs from the wake instant to the sleep instant in steps of ten minutes of real
//! time, and labels each block with its local clock time. On a day whose clocks change inside
//! the waking span that gives 96 or 108 blocks instead of 102, and the labels of a repeated
//! hour carry their UTC offset. Local times that do not exist or exist twice resolve as
//! RFC 5545 section 3.3.5 says: a time in a gap uses the offset from before the gap, an
//! ambiguous time means its first occurrence.

use std::fmt;
use std::ops::Range;

use chrono::{
    DateTime, Duration, FixedOffset, LocalResult, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc,
};
use chrono_tz::Tz;

use crate::clock::{
    BLOCK_MINUTES, ClockRange, ClockTime, Rounding, WallTime, align, hhmm, parse_minute,
};
use crate::error::{PlannerError, Result};

/// One block's length.
pub fn block_len() -> Duration {
    Duration::minutes(BLOCK_MINUTES as i64)
}

/// When a day starts and ends on the wall clock, in minutes after the date's midnight.
/// A sleep time past midnight is stored above 24:00 (01:00 the next morning is 25:00).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct DaySpan {
    pub wake: u16,
    pub sleep: u16,
}

impl Default for DaySpan {
    /// 07:00-24:00: the 102 blocks of the founder's note, `(24-7)*60/10`.
    fn default() -> Self {
        DaySpan {
            wake: 7 * 60,
            sleep: 24 * 60,
        }
    }
}

impl fmt::Display for DaySpan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", hhmm(self.wake), hhmm(self.sleep))
    }
}

impl DaySpan {
    /// A span from clock minutes; a sleep time at or before the wake time means the next
    /// morning.
    pub fn new(wake: u16, sleep: u16) -> Result<Self> {
        let bad = |reason: &str| PlannerError::BadSpan {
            wake: hhmm(wake),
            sleep: hhmm(sleep),
            reason: reason.into(),
        };
        if wake >= 24 * 60 {
            return Err(bad("the wake time must be before 24:00"));
        }
        if !wake.is_multiple_of(BLOCK_MINUTES) || !sleep.is_multiple_of(BLOCK_MINUTES) {
            return Err(bad("wake and sleep times must be on a 10-minute boundary"));
        }
        let sleep = if sleep <= wake {
            sleep + 24 * 60
        } else {
            sleep
        };
        if sleep - wake > 24 * 60 {
            return Err(bad("a day cannot be longer than 24 hours"));
        }
        Ok(DaySpan { wake, sleep })
    }

    pub fn parse(wake: &str, sleep: &str) -> Result<Self> {
        DaySpan::new(parse_minute(wake)?, parse_minute(sleep)?)
    }

    /// This span with its wake and/or sleep time changed to typed clock times. The pair is
    /// checked together: a new wake time may only be usable with a new sleep time.
    pub fn with(&self, wake: Option<&str>, sleep: Option<&str>) -> Result<Self> {
        DaySpan::new(
            wake.map_or(Ok(self.wake), parse_minute)?,
            sleep.map_or(Ok(self.sleep), parse_minute)?,
        )
    }

    /// Reads a typed clock minute as a minute of this day: a time before the wake time that
    /// the day reaches after midnight means the next morning (00:30 is 24:30 when the day
    /// ends at 01:00).
    pub fn day_minute(&self, minute: u16) -> u16 {
        if minute < self.wake && minute + 24 * 60 <= self.sleep {
            minute + 24 * 60
        } else {
            minute
        }
    }

    /// Blocks in the span on a day without a clock change.
    pub fn nominal_blocks(&self) -> usize {
        ((self.sleep - self.wake) / BLOCK_MINUTES) as usize
    }
}

/// One 10-minute block of a day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    /// The real instant the block starts; it ends ten minutes later.
    pub start: DateTime<Utc>,
    /// The local clock time at the start.
    pub local: NaiveDateTime,
    pub offset: FixedOffset,
    /// The key plans are stored under.
    pub wall: WallTime,
    /// The local time occurs twice on this day (clocks went back); labels show the offset.
    pub repeated: bool,
}

impl Block {
    pub fn end(&self) -> DateTime<Utc> {
        self.start + block_len()
    }

    /// `HH:MM`, the local clock time the block starts at.
    pub fn label(&self) -> String {
        self.local.format("%H:%M").to_string()
    }

    /// `HH:MM`, or `HH:MM@-05:00` when that clock time occurs twice on this day (the same
    /// spelling a range takes to pick one occurrence).
    pub fn label_with_offset(&self) -> String {
        if self.repeated {
            format!("{}@{}", self.label(), self.offset)
        } else {
            self.label()
        }
    }
}

/// A local date's waking span as blocks.
#[derive(Clone, Debug)]
pub struct Grid {
    pub date: NaiveDate,
    pub tz: Tz,
    pub span: DaySpan,
    /// The instants the day starts and ends.
    pub wake: DateTime<Utc>,
    pub sleep: DateTime<Utc>,
    pub blocks: Vec<Block>,
}

/// The instant a local clock time names in `tz`, by RFC 5545's rules: a time skipped by a
/// clock change is read with the offset in force before the change (so 02:30 on a night the
/// clocks jump from 02:00 to 03:00 is 03:30), and a time that occurs twice is the first.
pub fn resolve_local(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
        LocalResult::None => {
            // Walk back to the last local time before the gap; its offset is the one in force
            // before the change. Gaps are at most a day long (Samoa skipped 2011-12-30).
            for k in 1..=(4 * 48) {
                let probe = local - Duration::minutes(15 * k);
                if let Some(t) = tz.from_local_datetime(&probe).latest() {
                    let offset = t.offset().fix();
                    return (local - offset).and_utc();
                }
            }
            local.and_utc()
        }
    }
}

impl Grid {
    pub fn new(date: NaiveDate, tz: Tz, span: DaySpan) -> Grid {
        let midnight = date.and_time(chrono::NaiveTime::MIN);
        let wake = resolve_local(tz, midnight + Duration::minutes(span.wake as i64));
        let sleep = resolve_local(tz, midnight + Duration::minutes(span.sleep as i64));
        let mut blocks = Vec::with_capacity(span.nominal_blocks() + 6);
        let mut t = wake;
        while t + block_len() <= sleep {
            let here = t.with_timezone(&tz);
            let local = here.naive_local();
            let offset = here.offset().fix();
            // Every real step is a block. Its clock time may pass 48:00 when the sleep time
            // fell in a skipped hour and was read after it (Nuuk, 2026-03-27, 23:50-23:40).
            let minute = (local - midnight).num_minutes().clamp(0, u16::MAX.into()) as u16;
            let (repeated, fold) = match tz.from_local_datetime(&local) {
                LocalResult::Ambiguous(first, _) => {
                    (true, u8::from(first.offset().fix() != offset))
                }
                _ => (false, 0),
            };
            blocks.push(Block {
                start: t,
                local,
                offset,
                wall: WallTime::with_fold(minute, fold),
                repeated,
            });
            t += block_len();
        }
        Grid {
            date,
            tz,
            span,
            wake,
            sleep,
            blocks,
        }
    }

    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// The block that contains `instant`, if it is inside the waking span.
    pub fn index_at(&self, instant: DateTime<Utc>) -> Option<usize> {
        if instant < self.wake || self.blocks.is_empty() {
            return None;
        }
        let i = ((instant - self.wake).num_seconds() / (BLOCK_MINUTES as i64 * 60)) as usize;
        (i < self.blocks.len()).then_some(i)
    }

    /// The block stored under a wall-clock key, if this day has it.
    pub fn index_of(&self, wall: WallTime) -> Option<usize> {
        self.blocks.iter().position(|b| b.wall == wall)
    }

    /// The instant a typed clock time means on this day.
    pub fn resolve(&self, time: ClockTime) -> Result<DateTime<Utc>> {
        let minute = self.span.day_minute(time.minute);
        let local = self.date.and_time(chrono::NaiveTime::MIN) + Duration::minutes(minute as i64);
        match time.offset {
            None => Ok(resolve_local(self.tz, local)),
            Some(offset) => {
                let instant = (local - offset).and_utc();
                if instant.with_timezone(&self.tz).offset().fix() == offset {
                    Ok(instant)
                } else {
                    Err(PlannerError::BadTime {
                        input: time.to_string(),
                        reason: format!(
                            "{} in {} on {} is not at UTC{}",
                            hhmm(time.minute),
                            self.tz.name(),
                            self.date,
                            offset
                        ),
                    })
                }
            }
        }
    }

    /// The blocks a typed range covers on this day.
    pub fn range(&self, typed: ClockRange, rounding: Rounding) -> Result<Range<usize>> {
        let r = align(typed, rounding)?;
        let span_err = || PlannerError::OutsideSpan {
            range: typed.to_string(),
            span: self.span.to_string(),
            date: self.date.to_string(),
        };
        let mut end = r.end;
        let start_m = self.span.day_minute(r.start.minute);
        let end_m = self.span.day_minute(r.end.minute);
        if end_m <= start_m {
            if end_m == 0 {
                // `23:00-00:00`: midnight at the end of a range is the end of the day.
                end.minute = 24 * 60;
            } else if start_m <= self.span.wake || end_m >= self.span.wake {
                return Err(if start_m == end_m {
                    PlannerError::EmptyRange {
                        range: typed.to_string(),
                    }
                } else {
                    PlannerError::ReversedRange {
                        range: typed.to_string(),
                        suggestion: format!("{}-{}", r.end, r.start),
                    }
                });
            } else {
                return Err(span_err());
            }
        }
        let s = self.resolve(r.start)?;
        let e = self.resolve(end)?;
        if e <= s {
            return Err(PlannerError::ReversedRange {
                range: typed.to_string(),
                suggestion: format!("{}-{}", r.end, r.start),
            });
        }
        if s < self.wake || e > self.sleep {
            return Err(span_err());
        }
        let first = self.blocks.iter().position(|b| b.start >= s);
        let last = self.blocks.iter().rposition(|b| b.end() <= e);
        match (first, last) {
            (Some(a), Some(b)) if a <= b => Ok(a..b + 1),
            _ => Err(PlannerError::EmptyRange {
                range: typed.to_string(),
            }),
        }
    }

    /// The instants a run of blocks starts and ends; `range` is a non-empty run of this
    /// grid's blocks.
    pub fn instants(&self, range: Range<usize>) -> (DateTime<Utc>, DateTime<Utc>) {
        (
            self.blocks[range.start].start,
            self.blocks[range.end - 1].end(),
        )
    }

    /// The blocks that `[start, end)` touches, rounded outward to whole blocks, or `None` when
    /// it does not touch the waking span.
    pub fn touching(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> Option<Range<usize>> {
        let first = self.blocks.iter().position(|b| b.end() > start)?;
        let last = self.blocks.iter().rposition(|b| b.start < end)?;
        (first <= last).then_some(first..last + 1)
    }

    /// `09:00-11:30` for a run of blocks, in local clock times.
    pub fn describe(&self, range: Range<usize>) -> String {
        if range.is_empty() || range.end > self.blocks.len() {
            return String::new();
        }
        let first = &self.blocks[range.start];
        let last = &self.blocks[range.end - 1];
        let end = last.end().with_timezone(&self.tz);
        let mut end_label = end.format("%H:%M").to_string();
        if matches!(
            self.tz.from_local_datetime(&end.naive_local()),
            LocalResult::Ambiguous(..)
        ) {
            end_label = format!("{end_label}@{}", end.offset().fix());
        }
        format!("{}-{}", first.label_with_offset(), end_label)
    }
}

/// The date of the planning day `now` is in: after midnight, a day that ends past midnight is
/// still the day before.
pub fn planning_date(now: DateTime<Utc>, tz: Tz, span: DaySpan) -> NaiveDate {
    let date = now.with_timezone(&tz).date_naive();
    let yesterday = Grid::new(date - Duration::days(1), tz, span);
    if now >= yesterday.wake && now < yesterday.sleep {
        yesterday.date
    } else {
        date
    }
}

/// Parses an IANA zone name, suggesting the right spelling for a near miss.
pub fn parse_tz(name: &str) -> Result<Tz> {
    let trimmed = name.trim().trim_start_matches(':');
    if let Ok(tz) = trimmed.parse::<Tz>() {
        return Ok(tz);
    }
    let lower = trimmed.to_ascii_lowercase();
    let close = chrono_tz::TZ_VARIANTS
        .iter()
        .find(|tz| tz.name().to_ascii_lowercase() == lower)
        .or_else(|| {
            chrono_tz::TZ_VARIANTS.iter().find(|tz| {
                let n = tz.name().to_ascii_lowercase();
                !lower.is_empty() && n.rsplit('/').next() == Some(lower.as_str())
            })
        });
    let hint = match close {
        Some(tz) => format!("; did you mean `{}`?", tz.name()),
        None => "; use an IANA name such as Europe/Berlin, America/New_York or UTC \
                 (`timedatectl list-timezones` lists them)"
            .to_owned(),
    };
    Err(PlannerError::UnknownTimeZone {
        name: name.to_owned(),
        hint,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn grid(d: &str, tz: &str, wake: &str, sleep: &str) -> Grid {
        Grid::new(
            date(d),
            parse_tz(tz).unwrap(),
            DaySpan::parse(wake, sleep).unwrap(),
        )
    }

    #[test]
    fn ordinary_day_has_102_blocks() {
        let g = grid("2026-03-05", "Europe/Berlin", "07:00", "24:00");
        assert_eq!(g.len(), 102);
        assert_eq!(DaySpan::default().nominal_blocks(), 102);
        assert_eq!(g.blocks[0].label(), "07:00");
        assert_eq!(g.blocks[101].label(), "23:50");
        assert_eq!(g.blocks[0].start.to_rfc3339(), "2026-03-05T06:00:00+00:00");
        assert_eq!(g.sleep.to_rfc3339(), "2026-03-05T23:00:00+00:00");
        assert!(g.blocks.iter().all(|b| !b.repeated));
        assert_eq!(g.blocks[12].wall, WallTime::new(9 * 60));
    }

    #[test]
    fn dst_days_with_a_covering_span_have_96_or_108_blocks() {
        // 01:00-18:00 is 17 wall-clock hours (102 nominal blocks) and covers each change.
        for (d, tz, want) in [
            ("2026-03-08", "America/New_York", 96),
            ("2026-11-01", "America/New_York", 108),
            ("2026-03-29", "Europe/Berlin", 96),
            ("2026-10-25", "Europe/Berlin", 108),
        ] {
            let g = grid(d, tz, "01:00", "18:00");
            assert_eq!(g.len(), want, "{tz} {d}");
            assert_eq!(
                grid(d, tz, "07:00", "24:00").len(),
                102,
                "{tz} {d} default span"
            );
            // Real 10-minute steps, whatever the labels say.
            for w in g.blocks.windows(2) {
                assert_eq!(w[1].start - w[0].start, block_len());
            }
        }
    }

    #[test]
    fn repeated_hour_labels_carry_their_offset() {
        let g = grid("2026-11-01", "America/New_York", "00:00", "04:00");
        assert_eq!(g.len(), 30);
        let labels: Vec<String> = g.blocks.iter().map(Block::label_with_offset).collect();
        assert_eq!(labels[6], "01:00@-04:00");
        assert_eq!(labels[12], "01:00@-05:00");
        assert_eq!(labels[18], "02:00");
        assert_eq!(g.blocks[6].wall, WallTime::with_fold(60, 0));
        assert_eq!(g.blocks[12].wall, WallTime::with_fold(60, 1));
        assert_eq!(g.describe(6..18), "01:00@-04:00-02:00");
        assert_eq!(g.describe(6..9), "01:00@-04:00-01:30@-04:00");
    }

    #[test]
    fn wake_time_in_a_gap_resolves_after_the_gap() {
        // Clocks jump from 02:00 to 03:00: 02:30 means 03:30 EDT (RFC 5545 3.3.5).
        let g = grid("2026-03-08", "America/New_York", "02:30", "12:00");
        assert_eq!(g.blocks[0].label(), "03:30");
        assert_eq!(g.wake.to_rfc3339(), "2026-03-08T07:30:00+00:00");
        assert_eq!(g.len(), (12 * 60 - (3 * 60 + 30)) / 10);
    }

    #[test]
    fn ambiguous_times_mean_the_first_occurrence_unless_an_offset_is_given() {
        let g = grid("2026-10-25", "Europe/Berlin", "00:00", "06:00");
        let r = g
            .range("02:00-02:30".parse().unwrap(), Rounding::Strict)
            .unwrap();
        assert_eq!(g.blocks[r.start].offset.to_string(), "+02:00");
        assert_eq!(r.len(), 3);
        let r = g
            .range(
                "02:00@+01:00-02:30@+01:00".parse().unwrap(),
                Rounding::Strict,
            )
            .unwrap();
        assert_eq!(g.blocks[r.start].offset.to_string(), "+01:00");
        assert_eq!(g.blocks[r.start].wall, WallTime::with_fold(120, 1));
        let err = g
            .range("02:00@+05:00-03:00".parse().unwrap(), Rounding::Strict)
            .unwrap_err();
        assert!(err.to_string().contains("is not at UTC+05:00"), "{err}");
    }

    #[test]
    fn kathmandu_blocks_align_to_local_ten_minutes() {
        let g = grid("2026-06-01", "Asia/Kathmandu", "07:00", "24:00");
        assert_eq!(g.len(), 102);
        assert_eq!(g.blocks[0].offset.to_string(), "+05:45");
        for b in &g.blocks {
            assert_eq!(
                b.local.format("%M").to_string().as_bytes()[1],
                b'0',
                "{}",
                b.local
            );
        }
        // 07:00 local is 01:15 UTC: the UTC minutes are :05/:15/:25..., the local ones :00/:10.
        assert_eq!(g.blocks[0].start.to_rfc3339(), "2026-06-01T01:15:00+00:00");
    }

    #[test]
    fn leap_day_is_an_ordinary_day() {
        let g = grid("2028-02-29", "UTC", "07:00", "24:00");
        assert_eq!(g.len(), 102);
        assert_eq!(g.sleep.to_rfc3339(), "2028-03-01T00:00:00+00:00");
    }

    #[test]
    fn sleep_past_midnight_belongs_to_the_same_day() {
        let g = grid("2026-03-05", "UTC", "09:00", "01:30");
        assert_eq!(g.span.sleep, 25 * 60 + 30);
        assert_eq!(g.len(), (16 * 60 + 30) / 10);
        assert_eq!(g.blocks.last().unwrap().wall, WallTime::new(25 * 60 + 20));
        let r = g
            .range("23:00-01:00".parse().unwrap(), Rounding::Strict)
            .unwrap();
        assert_eq!(r.len(), 12);
        assert_eq!(g.describe(r), "23:00-01:00");
    }

    #[test]
    fn span_overrides_keep_the_other_end() {
        let span = DaySpan::default();
        assert_eq!(span.with(None, None).unwrap(), span);
        assert_eq!(
            span.with(Some("06:00"), None).unwrap(),
            DaySpan::parse("06:00", "24:00").unwrap()
        );
        assert_eq!(span.with(None, Some("01:00")).unwrap().sleep, 25 * 60);
        assert!(span.with(Some("07:05"), None).is_err());
    }

    #[test]
    fn half_past_midnight_is_still_the_day_before_when_it_runs_late() {
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let late = DaySpan::parse("07:00", "01:00").unwrap();
        let today = |now: &str, span| planning_date(at(now), Tz::UTC, span).to_string();
        assert_eq!(today("2026-03-06T00:30:00Z", late), "2026-03-05");
        assert_eq!(today("2026-03-06T01:30:00Z", late), "2026-03-06");
        assert_eq!(
            today("2026-03-06T00:30:00Z", DaySpan::default()),
            "2026-03-06"
        );
    }

    #[test]
    fn ranges_are_checked() {
        let g = grid("2026-03-05", "UTC", "07:00", "24:00");
        let range = |s: &str| g.range(s.parse().unwrap(), Rounding::Strict);
        assert_eq!(range("09:00-11:30").unwrap(), 12..27);
        assert_eq!(range("23:00-00:00").unwrap(), 96..102);
        let e = range("11:30-09:00").unwrap_err().to_string();
        assert!(
            e.contains("ends before it starts; write it as 09:00-11:30"),
            "{e}"
        );
        let e = range("05:00-08:00").unwrap_err().to_string();
        assert!(e.contains("outside the waking span 07:00-24:00"), "{e}");
        let e = range("09:00-09:00").unwrap_err().to_string();
        assert!(e.contains("is empty"), "{e}");
        assert!(matches!(
            range("09:05-10:00"),
            Err(PlannerError::NotOnBoundary { .. })
        ));
    }

    #[test]
    fn events_round_outward_to_the_blocks_they_touch() {
        let g = grid("2026-03-05", "UTC", "07:00", "24:00");
        let t = |s: &str| format!("2026-03-05T{s}Z").parse::<DateTime<Utc>>().unwrap();
        assert_eq!(g.touching(t("09:05:00"), t("09:55:00")), Some(12..18));
        assert_eq!(g.touching(t("06:00:00"), t("07:10:00")), Some(0..1));
        assert_eq!(g.touching(t("03:00:00"), t("04:00:00")), None);
        assert_eq!(g.touching(t("09:00:00"), t("09:00:01")), Some(12..13));
        assert_eq!(g.instants(12..18), (t("09:00:00"), t("10:00:00")));
    }

    #[test]
    fn index_at_finds_the_current_block() {
        let g = grid("2026-03-05", "UTC", "07:00", "24:00");
        let t = "2026-03-05T09:25:00Z".parse::<DateTime<Utc>>().unwrap();
        assert_eq!(g.index_at(t), Some(14));
        let t = "2026-03-05T06:59:00Z".parse::<DateTime<Utc>>().unwrap();
        assert_eq!(g.index_at(t), None);
    }

    #[test]
    fn a_day_ending_in_a_skipped_hour_keeps_every_block() {
        // Nuuk skips 23:00-24:00 on 2026-03-28: the sleep time 23:40 is read with the offset
        // before (00:40 after the change), and the last blocks, past 48:00 on the clock,
        // were dropped.
        let g = grid("2026-03-27", "America/Nuuk", "23:50", "23:40");
        assert_eq!((g.sleep - g.wake).num_minutes(), 143 * 10);
        assert_eq!(g.len(), 143);
        assert_eq!(g.blocks[142].label(), "00:30");
        assert_eq!(g.blocks[142].wall, WallTime::new(48 * 60 + 30));
        let labels: Vec<String> = g.blocks[138..].iter().map(Block::label).collect();
        assert_eq!(labels, ["22:50", "00:00", "00:10", "00:20", "00:30"]);
    }

    #[test]
    fn every_clock_change_of_a_year_in_every_zone_keeps_every_block() {
        // The days around each change of offset in 2026, in each zone, with the longest spans
        // there are: every real 10 minutes from wake to sleep is one block.
        let noon_offset = |tz: Tz, d: NaiveDate| {
            resolve_local(tz, d.and_hms_opt(12, 0, 0).unwrap())
                .with_timezone(&tz)
                .offset()
                .fix()
        };
        let mut grids = 0;
        for tz in chrono_tz::TZ_VARIANTS {
            let mut d = date("2026-01-01");
            while d < date("2027-01-01") {
                let next = d + Duration::days(1);
                if noon_offset(tz, d) != noon_offset(tz, next) {
                    for day in [d - Duration::days(1), d, next] {
                        for (wake, sleep) in [
                            (0, 24 * 60),
                            (23 * 60 + 50, 23 * 60 + 40),
                            (12 * 60, 12 * 60),
                        ] {
                            let g = Grid::new(day, tz, DaySpan::new(wake, sleep).unwrap());
                            let real = (g.sleep - g.wake).num_minutes();
                            assert_eq!(g.len() as i64 * 10, real, "{tz} {day} {}", g.span);
                            let mut keys = std::collections::HashSet::new();
                            for (i, b) in g.blocks.iter().enumerate() {
                                assert_eq!(b.start, g.wake + block_len() * i as i32);
                                assert!(keys.insert(b.wall), "{tz} {day}: {} twice", b.wall);
                            }
                            grids += 1;
                        }
                    }
                }
                d = next;
            }
        }
        assert!(grids > 1000, "{grids}");
    }

    proptest::proptest! {
        #[test]
        fn blocks_are_real_ten_minute_steps_labelled_on_local_tens(
            day in 0i64..3650,
            zone in 0usize..6,
            wake in 0u16..144,
            len in 1u16..=144,
        ) {
            let zones = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kathmandu", "Australia/Lord_Howe", "Pacific/Chatham"];
            let date = date("2020-01-01") + Duration::days(day);
            let span = DaySpan::new(wake * 10, wake * 10 + len * 10).unwrap();
            let g = Grid::new(date, parse_tz(zones[zone]).unwrap(), span);
            proptest::prop_assert_eq!(g.len() as i64, (g.sleep - g.wake).num_minutes() / 10);
            for (i, b) in g.blocks.iter().enumerate() {
                proptest::prop_assert_eq!(b.start, g.wake + block_len() * i as i32);
                proptest::prop_assert_eq!(b.local.format("%M").to_string().as_bytes()[1], b'0');
                proptest::prop_assert_eq!(g.index_of(b.wall), Some(i));
                proptest::prop_assert_eq!(g.index_at(b.start + Duration::minutes(5)), Some(i));
            }
        }
    }

    #[test]
    fn unknown_zones_get_a_hint() {
        let e = parse_tz("europe/berlin").unwrap_err().to_string();
        assert!(e.contains("did you mean `Europe/Berlin`"), "{e}");
        let e = parse_tz("Mars/Olympus").unwrap_err().to_string();
        assert!(
            e.contains("unknown time zone `Mars/Olympus`; use an IANA name"),
            "{e}"
        );
        assert_eq!(parse_tz(":UTC").unwrap(), Tz::UTC);
    }
}
