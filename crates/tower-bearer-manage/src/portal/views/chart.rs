//! A usage series as an SVG bar chart drawn on the server: admitted requests rise above the
//! axis in solid bars, refused ones hang below it, hatched, so that the two are told apart by
//! position and pattern without colour; each bar carries its numbers as its `<title>`.

use std::time::SystemTime;

use maud::{Markup, html};
use tower_bearer::manage::usage::{OutcomeCounts, UsageOutcome, UsageSeries};

use crate::portal::date;

/// The plot's size in SVG units; the drawing scales with the page.
const BAR: u64 = 20;
const GAP: u64 = 4;
const LEFT: u64 = 44;
const ABOVE: u64 = 120;
const BELOW: u64 = 40;
const TOP: u64 = 28;

/// `value` in SVG units, `scale` being `(units, requests)`: rounded up, so that one request
/// still shows.
fn height(value: u64, scale: (u64, u64)) -> u64 {
    let (units, per) = scale;
    if value == 0 || per == 0 {
        return 0;
    }
    u64::try_from((u128::from(value) * u128::from(units)).div_ceil(u128::from(per))).unwrap_or(units)
}

/// What refused a bucket's requests: `rate limited 2, expired 1`.
pub(super) fn reasons(counts: &OutcomeCounts) -> String {
    counts
        .iter()
        .filter(|(o, n)| *o != UsageOutcome::Admitted && *n > 0)
        .map(|(o, n)| format!("{} {n}", o.as_str().replace('_', " ")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The chart of `series`, titled `title` (read out for the whole image).
pub(crate) fn chart(series: &UsageSeries, title: &str) -> Markup {
    let buckets = series.buckets();
    let admitted = |c: &OutcomeCounts| c.get(UsageOutcome::Admitted);
    let max_up = buckets.iter().map(|(_, c)| admitted(c)).max().unwrap_or(0);
    let max_down = buckets.iter().map(|(_, c)| c.refused()).max().unwrap_or(0);
    // One scale for both directions (the larger of what each half needs), so that a bar's
    // length means the same number above and below.
    let scale = if u128::from(max_up) * u128::from(BELOW) >= u128::from(max_down) * u128::from(ABOVE) {
        (ABOVE, max_up)
    } else {
        (BELOW, max_down)
    };
    let axis = TOP + ABOVE;
    let width = LEFT + buckets.len() as u64 * (BAR + GAP) + GAP;
    let totals = series.totals();
    let summary = format!(
        "{} admitted and {} refused requests over {} days; the most admitted in a day: {max_up}.",
        totals.get(UsageOutcome::Admitted),
        totals.refused(),
        buckets.len()
    );
    let x = |i: usize| LEFT + GAP + i as u64 * (BAR + GAP);
    html! {
        svg.chart xmlns="http://www.w3.org/2000/svg" role="img" viewBox=(format!("0 0 {width} {}", axis + BELOW + 24))
            aria-labelledby="usage-chart-title usage-chart-desc" {
            title #usage-chart-title { (title) }
            desc #usage-chart-desc { (summary) }
            defs {
                pattern #usage-hatch patternUnits="userSpaceOnUse" width="6" height="6" {
                    path d="M0,6 L6,0 M-1,1 L1,-1 M5,7 L7,5" stroke="#b3261e" stroke-width="1.5" {}
                }
            }
            text x="4" y="16" font-size="12" fill="#50565d" { "▲ admitted (solid) · ▼ refused (hatched)" }
            text x=(LEFT - 6) y=(TOP + 4) font-size="11" text-anchor="end" fill="#50565d" { (max_up) }
            text x=(LEFT - 6) y=(axis + 4) font-size="11" text-anchor="end" fill="#50565d" { "0" }
            // The refusals' scale, where there is room for it below the axis's own zero.
            @if height(max_down, scale) >= 14 {
                text x=(LEFT - 6) y=(axis + height(max_down, scale) + 4) font-size="11" text-anchor="end" fill="#50565d" { (max_down) }
            }
            line x1=(LEFT) x2=(width) y1=(axis) y2=(axis) stroke="#1f2328" stroke-width="1" {}
            @for (i, (start, counts)) in buckets.iter().enumerate() {
                @let day = date::day(*start);
                @let up = height(admitted(counts), scale);
                @let down = height(counts.refused(), scale);
                @if up > 0 {
                    rect.bar.admitted x=(x(i)) y=(axis - up) width=(BAR) height=(up) fill="#0b57d0" {
                        title { (day) ": " (admitted(counts)) " admitted" }
                    }
                }
                @if down > 0 {
                    rect.bar.refused x=(x(i)) y=(axis) width=(BAR) height=(down) fill="url(#usage-hatch)" stroke="#b3261e" {
                        title { (day) ": " (counts.refused()) " refused (" (reasons(counts)) ")" }
                    }
                }
                @if i % 7 == buckets.len().saturating_sub(1) % 7 {
                    (tick(x(i) + BAR / 2, axis + BELOW + 16, *start))
                }
            }
        }
    }
}

/// A day's label under the plot: `13 Jan`-style, as `MM-DD`.
fn tick(x: u64, y: u64, start: SystemTime) -> Markup {
    let day = date::day(start);
    html! {
        text x=(x) y=(y) font-size="11" text-anchor="middle" fill="#50565d" { (day.get(5..).unwrap_or(&day)) }
    }
}
