//! The dashboard's chart of logins a minute over the last hour, drawn on the server as SVG: one
//! stacked bar a minute (succeeded, failed, throttled), a few gridlines with their counts, and a
//! `<title>` and `<desc>` that say what it shows to anyone who cannot see it. Colours are
//! presentation attributes, not `style`, which the Content-Security-Policy forbids inline.

use maud::{Markup, html};

use crate::store::LoginMinute;
use crate::time::Timestamp;

pub const MINUTES: usize = 60;
const WIDTH: u32 = 640;
const HEIGHT: u32 = 180;
const LEFT: u32 = 44;
const BOTTOM: u32 = 22;
const TOP: u32 = 8;
const BAR_STEP: u32 = (WIDTH - LEFT) / MINUTES as u32;

/// A series: its name, its colour, and its count in a minute.
pub struct Series {
    pub label: &'static str,
    pub colour: &'static str,
    pub count: fn(&LoginMinute) -> u64,
}

/// Colours with at least 3:1 contrast against the white page, told apart by the legend too.
pub const SERIES: [Series; 3] = [
    Series {
        label: "succeeded",
        colour: "#1a7f37",
        count: |minute| minute.succeeded,
    },
    Series {
        label: "failed",
        colour: "#b35900",
        count: |minute| minute.failed,
    },
    Series {
        label: "throttled",
        colour: "#c62828",
        count: |minute| minute.throttled,
    },
];

/// The last `MINUTES` minutes ending with the one holding `now`, each with its counts (zero for a
/// minute with none), oldest first.
pub fn last_hour(recorded: &[LoginMinute], now: Timestamp) -> Vec<LoginMinute> {
    let current = now.millis().div_euclid(60_000);
    (0..MINUTES as i64)
        .rev()
        .map(|ago| {
            let minute = current - ago;
            let started_at = Timestamp::from_millis(minute * 60_000);
            recorded
                .iter()
                .find(|recorded| recorded.started_at == started_at)
                .copied()
                .unwrap_or(LoginMinute {
                    started_at,
                    succeeded: 0,
                    failed: 0,
                    throttled: 0,
                })
        })
        .collect()
}

/// A round scale top at or above `peak`: 1, 2 or 5 times a power of ten.
fn scale_top(peak: u64) -> u64 {
    let mut step = 1u64;
    loop {
        for factor in [1, 2, 5] {
            let top = step.saturating_mul(factor);
            if top >= peak.max(1) {
                return top;
            }
        }
        step = step.saturating_mul(10);
    }
}

struct Bar {
    x: u32,
    y: u32,
    height: u32,
    colour: &'static str,
    title: String,
}

pub fn render(minutes: &[LoginMinute], totals: &str) -> Markup {
    let peak = minutes
        .iter()
        .map(|minute| {
            SERIES
                .iter()
                .map(|series| (series.count)(minute))
                .sum::<u64>()
        })
        .max()
        .unwrap_or(0);
    let top = scale_top(peak);
    let plot_height = HEIGHT - BOTTOM - TOP;
    let y_of = |count: u64| -> u32 {
        let scaled = count.saturating_mul(u64::from(plot_height)) / top;
        HEIGHT - BOTTOM - u32::try_from(scaled).unwrap_or(plot_height)
    };
    let mut bars = Vec::new();
    for (index, minute) in minutes.iter().enumerate() {
        let x = LEFT + u32::try_from(index).unwrap_or(0) * BAR_STEP + 1;
        let mut base = 0u64;
        for series in &SERIES {
            let count = (series.count)(minute);
            if count > 0 {
                let lower = y_of(base);
                let upper = y_of(base + count);
                bars.push(Bar {
                    x,
                    y: upper,
                    height: lower.saturating_sub(upper).max(1),
                    colour: series.colour,
                    title: format!("{count} {}", series.label),
                });
            }
            base += count;
        }
    }
    html! {
        svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox=(format!("0 0 {WIDTH} {HEIGHT}"))
            width=(WIDTH) height=(HEIGHT) aria-labelledby="logins-chart-title logins-chart-desc"
            class="chart" {
            title id="logins-chart-title" { "Logins a minute over the last hour" }
            desc id="logins-chart-desc" { (totals) }
            @for fraction in [0u64, 1, 2] {
                @let value = top * fraction / 2;
                @let y = y_of(value);
                line x1=(LEFT) x2=(WIDTH) y1=(y) y2=(y) stroke="#c8c8c8" stroke-width="1";
                text x=(LEFT - 6) y=(y + 4) text-anchor="end" font-size="11" fill="#333333" { (value) }
            }
            @for bar in &bars {
                rect x=(bar.x) y=(bar.y) width=(BAR_STEP - 2) height=(bar.height) fill=(bar.colour) {
                    title { (bar.title) }
                }
            }
            text x=(LEFT) y=(HEIGHT - 6) font-size="11" fill="#333333" { "60 minutes ago" }
            text x=(WIDTH) y=(HEIGHT - 6) text-anchor="end" font-size="11" fill="#333333" { "now" }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hour_has_sixty_minutes_with_the_recorded_counts_in_place() {
        let now = Timestamp::from_millis(10 * 3_600_000 + 30_000);
        let recorded = [LoginMinute {
            started_at: Timestamp::from_millis(10 * 3_600_000 - 60_000),
            succeeded: 3,
            failed: 1,
            throttled: 0,
        }];
        let hour = last_hour(&recorded, now);
        assert_eq!(hour.len(), MINUTES);
        assert_eq!(hour[MINUTES - 1].started_at.millis(), 10 * 3_600_000);
        assert_eq!(hour[MINUTES - 2], recorded[0]);
        assert_eq!(hour.iter().map(|minute| minute.succeeded).sum::<u64>(), 3);
    }

    #[test]
    fn the_scale_is_round_and_the_bars_stay_inside_it() {
        assert_eq!(scale_top(0), 1);
        assert_eq!(scale_top(3), 5);
        assert_eq!(scale_top(11), 20);
        assert_eq!(scale_top(1_000), 1_000);
        let now = Timestamp::from_millis(3_600_000);
        let minutes = last_hour(
            &[LoginMinute {
                started_at: Timestamp::from_millis(3_600_000),
                succeeded: 7,
                failed: 2,
                throttled: 1,
            }],
            now,
        );
        let svg = render(&minutes, "10 logins").into_string();
        assert_eq!(svg.matches("<rect").count(), 3, "{svg}");
        assert!(svg.contains("<title>7 succeeded</title>"), "{svg}");
        assert!(svg.contains(r#"role="img""#));
        assert!(
            !svg.contains("style="),
            "no inline styles under the CSP: {svg}"
        );
    }
}
