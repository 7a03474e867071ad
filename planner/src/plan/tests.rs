//! Plans, revisions, re-plans, calendar blocks and moves, on a plain UTC day.

use super::*;
use crate::clock::Rounding;
use crate::grid::{DaySpan, parse_tz};

fn grid() -> Grid {
    Grid::new(
        "2026-03-05".parse().unwrap(),
        parse_tz("UTC").unwrap(),
        DaySpan::default(),
    )
}

fn at(s: &str) -> DateTime<Utc> {
    format!("2026-03-05T{s}:00Z").parse().unwrap()
}

fn r(g: &Grid, s: &str) -> Range<usize> {
    g.range(s.parse().unwrap(), Rounding::Strict).unwrap()
}

fn labels(plan: &DayPlan, g: &Grid, rev: Option<&Revision>) -> String {
    plan.runs(g, rev)
        .into_iter()
        .map(|(range, c)| format!("{} {}", g.describe(range), c.label))
        .collect::<Vec<_>>()
        .join(", ")
}

#[test]
fn assign_refuses_overlaps_and_names_them() {
    let g = grid();
    let mut p = DayPlan::new(g.date);
    let email = Cell::new("email").unwrap();
    let deep = Cell::new("deep work").unwrap().with_category(Some("focus"));
    assert_eq!(
        p.assign(
            &g,
            r(&g, "10:00-10:30"),
            &email,
            Conflict::Refuse,
            at("08:00")
        )
        .unwrap(),
        3
    );
    let e = p
        .assign(
            &g,
            r(&g, "09:00-11:30"),
            &deep,
            Conflict::Refuse,
            at("08:00"),
        )
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "09:00-11:30 overlaps the planned `email` at 10:00-10:30 on 2026-03-05; clear it first \
         (`blocks clear 10:00-10:30 --date 2026-03-05`) or pass --replace"
    );
    // Nothing was half-written.
    assert_eq!(labels(&p, &g, None), "10:00-10:30 email");
    p.assign(
        &g,
        r(&g, "09:00-11:30"),
        &deep,
        Conflict::Replace,
        at("08:00"),
    )
    .unwrap();
    assert_eq!(labels(&p, &g, None), "09:00-11:30 deep work");
    // Planning the same thing again is not a conflict.
    assert_eq!(
        p.assign(
            &g,
            r(&g, "09:00-10:00"),
            &deep,
            Conflict::Refuse,
            at("08:00")
        )
        .unwrap(),
        0
    );
    assert_eq!(p.revisions.len(), 1);
}

#[test]
fn replan_keeps_the_earlier_revisions() {
    let g = grid();
    let mut p = DayPlan::new(g.date);
    let deep = Cell::new("deep work").unwrap();
    let email = Cell::new("email").unwrap();
    let review = Cell::new("review").unwrap();
    p.assign(
        &g,
        r(&g, "09:00-12:00"),
        &deep,
        Conflict::Refuse,
        at("07:30"),
    )
    .unwrap();
    p.assign(
        &g,
        r(&g, "14:00-15:00"),
        &email,
        Conflict::Refuse,
        at("07:35"),
    )
    .unwrap();

    // At 10:40 the morning went off plan: re-plan from the current block.
    let now = at("10:40");
    let from = g.index_at(now).unwrap();
    let rev = p.replan(&g, from, true, now).unwrap();
    assert_eq!(
        (rev.number, rev.from),
        (2, Some(WallTime::new(10 * 60 + 40)))
    );
    p.assign(&g, r(&g, "10:40-12:00"), &review, Conflict::Refuse, now)
        .unwrap();
    let e = p
        .assign(&g, r(&g, "09:00-09:30"), &review, Conflict::Replace, now)
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("09:00-09:30 on 2026-03-05 is before 10:40"),
        "{e}"
    );

    assert_eq!(
        labels(&p, &g, None),
        "09:00-10:40 deep work, 10:40-12:00 review"
    );
    let at_nine = p.as_of(at("09:00")).unwrap();
    assert_eq!(at_nine.number, 1);
    assert_eq!(
        labels(&p, &g, Some(at_nine)),
        "09:00-12:00 deep work, 14:00-15:00 email"
    );
    assert_eq!(p.as_of(at("14:00")).unwrap().number, 2);
    assert!(p.as_of(at("07:00")).is_none());
}

#[test]
fn replan_needs_a_plan() {
    let g = grid();
    let mut p = DayPlan::new(g.date);
    assert!(matches!(
        p.replan(&g, 3, false, at("08:00")),
        Err(PlannerError::NothingToReplan { .. })
    ));
}

#[test]
fn fixed_blocks_update_by_uid() {
    let g = grid();
    let mut p = DayPlan::new(g.date);
    let standup = Cell::new("standup").unwrap().fixed("ev-1");
    p.place_fixed(
        &g,
        r(&g, "09:00-09:30"),
        &standup,
        Conflict::Refuse,
        at("07:00"),
    )
    .unwrap();
    assert_eq!(p.remove_fixed(&g, &["ev-1".to_owned()], at("07:00")), 3);
    p.place_fixed(
        &g,
        r(&g, "10:00-10:20"),
        &standup,
        Conflict::Refuse,
        at("07:00"),
    )
    .unwrap();
    assert_eq!(labels(&p, &g, None), "10:00-10:20 standup");
}

#[test]
fn calendar_blocks_before_a_replan_stay_as_planned() {
    let g = grid();
    let mut p = DayPlan::new(g.date);
    let standup = Cell::new("standup").unwrap().fixed("ev-1");
    let review = Cell::new("review").unwrap().fixed("ev-2");
    for (range, cell) in [("09:00-09:30", &standup), ("13:30-15:00", &review)] {
        p.place_fixed(&g, r(&g, range), cell, Conflict::Refuse, at("07:00"))
            .unwrap();
    }
    let wide = Grid::new(g.date, g.tz, DaySpan::parse("06:00", "01:00").unwrap());
    let early = Cell::new("early").unwrap().fixed("ev-3");
    p.place_fixed(
        &wide,
        r(&wide, "06:00-06:10"),
        &early,
        Conflict::Refuse,
        at("05:00"),
    )
    .unwrap();
    let now = at("14:05");
    p.replan(&g, g.index_at(now).unwrap(), false, now).unwrap();

    // The calendar's part before 14:00 is history; only the rest may change.
    let (before, after) = p.split_at_revision(&g, r(&g, "13:30-15:00"));
    assert_eq!(
        (g.describe(before), g.describe(after)),
        ("13:30-14:00".into(), "14:00-15:00".into())
    );
    let (before, after) = p.split_at_revision(&g, r(&g, "09:00-09:30"));
    assert_eq!((before, after.is_empty()), (r(&g, "09:00-09:30"), true));
    let e = p
        .place_fixed(&g, r(&g, "09:00-09:30"), &review, Conflict::Replace, now)
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("09:00-09:30 on 2026-03-05 is before 14:00"),
        "{e}"
    );

    // Blocks placed under a wider waking span, outside this grid, go by their clock time.
    let late = Cell::new("late").unwrap().fixed("ev-4");
    p.place_fixed(&wide, r(&wide, "00:20-00:40"), &late, Conflict::Refuse, now)
        .unwrap();

    // A re-import removes the events' blocks from 14:00 on, and no earlier.
    let uids = ["ev-1", "ev-2", "ev-3", "ev-4"].map(str::to_owned);
    assert_eq!(p.remove_fixed(&g, &uids, now), 6 + 2);
    assert_eq!(
        labels(&p, &g, None),
        "09:00-09:30 standup, 13:30-14:00 review"
    );
    assert_eq!(p.off_grid(&g), 1, "06:00 `early` stays");
    assert_eq!(p.remove_fixed(&g, &uids, now), 0);
    assert_eq!(
        labels(&p, &g, p.revision(1).ok()),
        "09:00-09:30 standup, 13:30-15:00 review"
    );
}

#[test]
fn a_run_moves_and_resizes_but_calendar_blocks_stay_put() {
    let g = grid();
    let mut p = DayPlan::new(g.date);
    let deep = Cell::new("deep work").unwrap();
    let email = Cell::new("email").unwrap();
    let standup = Cell::new("standup").unwrap().fixed("ev-1");
    let t = at("07:00");
    p.assign(&g, r(&g, "09:00-10:00"), &deep, Conflict::Refuse, t)
        .unwrap();
    p.assign(&g, r(&g, "13:00-13:30"), &email, Conflict::Refuse, t)
        .unwrap();
    p.place_fixed(&g, r(&g, "11:00-11:30"), &standup, Conflict::Refuse, t)
        .unwrap();

    // Drag the end: 09:00-10:00 becomes 09:00-10:30; then move it an hour earlier.
    let moved = p
        .move_run(
            &g,
            r(&g, "09:00-10:00"),
            r(&g, "09:00-10:30"),
            Conflict::Refuse,
            t,
        )
        .unwrap();
    assert_eq!(moved, deep);
    p.move_run(
        &g,
        r(&g, "09:00-10:30"),
        r(&g, "08:00-09:30"),
        Conflict::Refuse,
        t,
    )
    .unwrap();
    assert_eq!(
        labels(&p, &g, None),
        "08:00-09:30 deep work, 11:00-11:30 standup, 13:00-13:30 email"
    );

    let before = p.clone();
    let e = p
        .move_run(
            &g,
            r(&g, "08:00-09:30"),
            r(&g, "10:30-12:00"),
            Conflict::Replace,
            t,
        )
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "10:30-12:00 on 2026-03-05 meets `standup` at 11:00-11:30, a fixed block from a \
         calendar event; change the event in its calendar and import it again, or pick \
         other blocks"
    );
    assert!(matches!(
        p.move_run(
            &g,
            r(&g, "11:00-11:30"),
            r(&g, "15:00-15:30"),
            Conflict::Refuse,
            t
        ),
        Err(PlannerError::FixedInTheWay { .. })
    ));
    assert!(matches!(
        p.move_run(
            &g,
            r(&g, "08:00-09:30"),
            r(&g, "12:30-13:10"),
            Conflict::Refuse,
            t
        ),
        Err(PlannerError::Overlap(_))
    ));
    assert!(matches!(
        p.move_run(
            &g,
            r(&g, "09:00-10:00"),
            r(&g, "15:00-16:00"),
            Conflict::Refuse,
            t
        ),
        Err(PlannerError::NotOneRun { .. })
    ));
    assert_eq!(p, before, "a refused move changes nothing");

    p.move_run(
        &g,
        r(&g, "08:00-09:30"),
        r(&g, "12:30-13:10"),
        Conflict::Replace,
        t,
    )
    .unwrap();
    assert_eq!(
        labels(&p, &g, None),
        "11:00-11:30 standup, 12:30-13:10 deep work, 13:10-13:30 email"
    );
}
