//! `cargo xtask stats --html FILE`: one self-contained page (no script, no
//! network) with the charts drawn as inline SVG. Every mark carries its
//! data in `data-*` attributes, which is what the browser test reads back.

use std::fmt::Write;

use crate::stats::Stats;

const DAY: u64 = 24 * 60 * 60;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `2026-11-22` for a unix time (UTC), by the civil-from-days algorithm.
pub fn date(unix: u64) -> String {
    let days = (unix / DAY) as i64;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

pub fn page(stats: &Stats) -> String {
    let mut html = String::new();
    let _ = write!(
        html,
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>backend-katas · your practice</title>
<style>
body {{ font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; color: #1d2433; }}
h1 {{ font-size: 1.6rem; }} h2 {{ font-size: 1.15rem; margin-top: 2.2rem; }}
table {{ border-collapse: collapse; }} td, th {{ padding: .25rem .7rem; text-align: left; border-bottom: 1px solid #e3e6ee; }}
.chart text {{ font-size: 11px; fill: #475066; }} .muted {{ color: #7a8499; }}
.calendar td {{ width: 6.5rem; height: 3.2rem; vertical-align: top; font-size: 12px; }}
.calendar td.due {{ background: #fde9f0; }} .calendar .day {{ color: #7a8499; }}
</style></head><body>
<h1>Your practice</h1>
<p id="summary">{} session(s) · streak: <strong id="streak" data-days="{}">{} day(s)</strong> · generated {}</p>
"#,
        stats.sessions.len(),
        stats.streak_days,
        stats.streak_days,
        date(stats.generated_at)
    );
    time_to_solve(&mut html, stats);
    solve_rates(&mut html, stats);
    calendar(&mut html, stats);
    katas_table(&mut html, stats);
    html.push_str("</body></html>\n");
    html
}

/// Minutes to solve, per kata, over time: one row of points per kata.
fn time_to_solve(html: &mut String, stats: &Stats) {
    html.push_str("<h2>Time to solve, per kata</h2>\n");
    let solved: Vec<_> = stats
        .katas
        .iter()
        .filter(|k| !k.solves.is_empty())
        .collect();
    if solved.is_empty() {
        html.push_str(
            "<p class=\"muted\">Nothing solved yet: the chart fills in as you solve katas.</p>\n",
        );
        return;
    }
    let (first, last) = solved
        .iter()
        .flat_map(|k| k.solves.iter().map(|(at, _)| *at))
        .fold((u64::MAX, 0), |(lo, hi), at| (lo.min(at), hi.max(at)));
    let span = (last - first).max(1) as f64;
    let max_minutes = solved
        .iter()
        .flat_map(|k| k.solves.iter().map(|(_, secs)| *secs as f64 / 60.0))
        .fold(1.0_f64, f64::max);
    let (width, row, left) = (760.0, 70.0, 170.0);
    let height = row * solved.len() as f64 + 30.0;
    let _ = writeln!(
        html,
        r#"<svg id="time-to-solve" class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="minutes to solve each kata over time">"#
    );
    for (i, kata) in solved.iter().enumerate() {
        let base = 20.0 + row * (i as f64 + 1.0);
        let _ = writeln!(
            html,
            r##"<text x="0" y="{:.1}">{}</text><line x1="{left}" y1="{base:.1}" x2="{width}" y2="{base:.1}" stroke="#d5d9e3"/>"##,
            base - row / 2.0,
            escape(&kata.kata)
        );
        let points: Vec<(f64, f64, u64, f64)> = kata
            .solves
            .iter()
            .map(|(at, secs)| {
                let minutes = *secs as f64 / 60.0;
                let x = left + 10.0 + (width - left - 30.0) * ((at - first) as f64 / span);
                let y = base - (row - 16.0) * (minutes / max_minutes);
                (x, y, *at, minutes)
            })
            .collect();
        let line: Vec<String> = points
            .iter()
            .map(|(x, y, _, _)| format!("{x:.1},{y:.1}"))
            .collect();
        let _ = writeln!(
            html,
            r##"<polyline fill="none" stroke="#3867d6" stroke-width="2" points="{}"/>"##,
            line.join(" ")
        );
        for (x, y, at, minutes) in points {
            let _ = writeln!(
                html,
                r#"<text x="{:.1}" y="{:.1}">{minutes:.1} min</text>"#,
                x - 14.0,
                y - 8.0
            );
            let _ = writeln!(
                html,
                r##"<circle class="solve" cx="{x:.1}" cy="{y:.1}" r="4" fill="#3867d6" data-kata="{}" data-date="{}" data-minutes="{minutes:.1}"><title>{}: {minutes:.1} min on {}</title></circle>"##,
                escape(&kata.kata),
                date(at),
                escape(&kata.kata),
                date(at)
            );
        }
    }
    html.push_str("</svg>\n");
}

/// Solve rate per track, then per tag: a horizontal bar each, for the
/// groups with attempts.
fn solve_rates(html: &mut String, stats: &Stats) {
    for (kind, groups) in [("track", &stats.tracks), ("tag", &stats.tags)] {
        let _ = writeln!(html, "<h2>Solve rate, per {kind}</h2>");
        if groups.is_empty() {
            html.push_str("<p class=\"muted\">No attempts yet.</p>\n");
            continue;
        }
        let (width, bar, left) = (760.0, 26.0, 170.0);
        let height = bar * groups.len() as f64 + 10.0;
        let _ = writeln!(
            html,
            r#"<svg id="solve-rates-{kind}" class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="solve rate per {kind}">"#
        );
        for (i, group) in groups.iter().enumerate() {
            let y = bar * i as f64 + 4.0;
            let w = (width - left - 60.0) * group.solve_rate;
            let name = escape(&group.name);
            let _ = writeln!(
                html,
                r##"<text x="0" y="{:.1}">{name}</text><rect class="rate" x="{left}" y="{y:.1}" width="{w:.1}" height="{:.1}" fill="#20bf6b" data-{kind}="{name}" data-rate="{:.2}" data-attempts="{}"><title>{name}: {} of {} solved</title></rect><text x="{:.1}" y="{:.1}">{:.0}% of {}</text>"##,
                y + bar * 0.65,
                bar - 8.0,
                group.solve_rate,
                group.attempts,
                group.solved,
                group.attempts,
                left + w + 6.0,
                y + bar * 0.65,
                group.solve_rate * 100.0,
                group.attempts
            );
        }
        html.push_str("</svg>\n");
    }
}

/// The next four weeks, with the katas due each day (and anything overdue
/// on today).
fn calendar(html: &mut String, stats: &Stats) {
    html.push_str("<h2>Review calendar</h2>\n<table id=\"calendar\" class=\"calendar\">\n");
    let today = stats.generated_at / DAY;
    for week in 0..4 {
        html.push_str("<tr>");
        for weekday in 0..7 {
            let day = today + week * 7 + weekday;
            let due: Vec<&str> = stats
                .katas
                .iter()
                .filter(|k| k.next_review.is_some_and(|at| (at / DAY).max(today) == day))
                .map(|k| k.kata.as_str())
                .collect();
            let class = if due.is_empty() { "" } else { " class=\"due\"" };
            let _ = write!(
                html,
                "<td{class} data-date=\"{}\" data-due=\"{}\"><div class=\"day\">{}</div>{}</td>",
                date(day * DAY),
                escape(&due.join(" ")),
                &date(day * DAY)[5..],
                due.iter()
                    .map(|k| escape(k))
                    .collect::<Vec<_>>()
                    .join("<br>")
            );
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</table>\n");
}

fn katas_table(html: &mut String, stats: &Stats) {
    html.push_str(
        "<h2>Katas</h2>\n<table id=\"katas\"><tr><th>kata</th><th>attempts</th><th>solved</th><th>best</th><th>hints</th><th>bug hunts</th><th>next review</th></tr>\n",
    );
    for k in &stats.katas {
        let _ = writeln!(
            html,
            "<tr data-kata=\"{}\" data-hunts=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} of {} fixed</td><td>{}</td></tr>",
            escape(&k.kata),
            k.hunts,
            escape(&k.title),
            k.attempts,
            k.solved,
            k.best_seconds
                .map_or_else(|| "-".to_owned(), |s| format!("{:.1} min", s as f64 / 60.0)),
            k.hints_used,
            k.hunts_solved,
            k.hunts,
            k.review.as_deref().unwrap_or("-")
        );
    }
    html.push_str("</table>\n");
}

#[cfg(test)]
mod tests {
    use super::date;

    #[test]
    fn dates_are_utc_calendar_days() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(951_782_400), "2000-02-29");
        assert_eq!(date(1_795_370_019), "2026-11-22");
    }
}
