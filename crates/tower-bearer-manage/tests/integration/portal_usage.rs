//! The portal's usage page: a token's last 30 days as an SVG bar chart drawn on the server and
//! as a table; tenants; no script; and, in a real browser, the numbers of the table and of
//! the chart's bars read back and compared with what was added to the usage log (which also
//! takes the screenshot in docs/).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use fantoccini::{Client, Locator};
use http::header::COOKIE;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;
use tower_bearer::manage::usage::{Granularity, UsageCount, UsageLog, UsageOutcome};
use tower_bearer::{Clock, MemoryTokenStore, NewToken, TokenId, TokenManager};
use tower_bearer_manage::TokenPortal;

use super::portal::{
    ChromeDriver, KEY, NOW, SCOPES, at, demo_tokens, heading, screenshot, sign_in, signed_in,
};

const DAY: u64 = 86_400;

/// What a day of the chart shows: admitted, and refused with why.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Day {
    admitted: u64,
    refused: u64,
}

/// The start of the day `n` days before today's (of [`NOW`]).
fn day(n: u64) -> SystemTime {
    Granularity::Day.bucket(at(NOW)) - Duration::from_secs(DAY * n)
}

fn date(at: SystemTime) -> String {
    let days = at.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs() / DAY;
    // Days to a civil date (Howard Hinnant's algorithm), to check the page's own formatting.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    format!("{:04}-{m:02}-{d:02}", yoe + era * 400 + i64::from(m <= 2))
}

/// A month of a laptop key's use: weekdays busy, weekends quiet, a day without any request,
/// rate limits on the busiest days and a few missing scopes; what the page must show, by day.
fn month_of(id: &TokenId) -> (Vec<UsageCount>, BTreeMap<String, Day>) {
    let mut counts = Vec::new();
    let mut expected = BTreeMap::new();
    let mut add = |n: u64, outcome: UsageOutcome, count: u64| {
        counts.push(UsageCount {
            token_id: Some(id.clone()),
            organization: Some("acme".into()),
            subject: Some("user_ada".into()),
            outcome,
            granularity: Granularity::Day,
            bucket: day(n),
            count,
        });
    };
    for n in 0..30 {
        let weekend = matches!(n % 7, 5 | 6);
        let admitted = if n == 12 {
            0
        } else if weekend {
            3 + n % 4
        } else {
            40 + (n * 37) % 60
        };
        let limited = if admitted > 90 { admitted - 90 + 2 } else { 0 };
        let scope = u64::from(n % 9 == 4);
        for (outcome, count) in [
            (UsageOutcome::Admitted, admitted),
            (UsageOutcome::RateLimited, limited),
            (UsageOutcome::InsufficientScope, scope),
        ] {
            if count > 0 {
                add(n, outcome, count);
            }
        }
        expected.insert(date(day(n)), Day { admitted, refused: limited + scope });
    }
    add(30, UsageOutcome::Admitted, 999); // the day before the 30: not shown
    (counts, expected)
}

/// The host with the usage page, over `log`.
fn host(store: &MemoryTokenStore, log: MemoryTokenStore) -> Router {
    let portal =
        TokenPortal::new(store.clone(), signed_in, KEY).scopes(SCOPES).title("API tokens").usage_log(log);
    Router::new().nest("/account/tokens", portal.router()).route("/sign-in/{user}", get(sign_in))
}

async fn setup() -> (MemoryTokenStore, TokenId, BTreeMap<String, Day>, Router) {
    let clock = Clock::manual(at(1_777_000_000));
    let store = MemoryTokenStore::builder().clock(clock.clone()).build();
    demo_tokens(&store, &clock).await;
    let mine = store.list("user_ada").await.unwrap();
    let laptop = mine.iter().find(|t| t.principal.token_name() == Some("Laptop CLI")).unwrap().id.clone();
    let (counts, expected) = month_of(&laptop);
    let log = MemoryTokenStore::new();
    log.add_usage(counts).await.unwrap();
    let app = host(&store, log);
    (store, laptop, expected, app)
}

async fn get_page(app: &Router, path: &str, user: &str) -> (StatusCode, String, Option<String>) {
    let req = Request::get(path).header(COOKIE, format!("user={user}")).body(Body::empty()).unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let csp = res.headers().get("content-security-policy").map(|v| v.to_str().unwrap().to_owned());
    let body = String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    (status, body, csp)
}

#[tokio::test]
async fn the_usage_page_is_the_owners_with_a_chart_and_a_table_and_no_script() {
    let (store, laptop, expected, app) = setup().await;
    let path = format!("/account/tokens/{}/usage", laptop.as_str());
    let (status, list, _) = get_page(&app, "/account/tokens", "ada").await;
    assert_eq!(status, StatusCode::OK);
    assert!(list.contains(&format!("href=\"{path}\"")), "the list links to each token's usage");

    let (status, page, csp) = get_page(&app, &path, "ada").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!page.contains("<script"), "drawn on the server: no script");
    assert!(csp.unwrap().contains("default-src 'none'"), "the portal's policy still holds");
    assert!(
        page.contains(r#"role="img""#)
            && page.contains("aria-labelledby=\"usage-chart-title usage-chart-desc\"")
    );
    assert_eq!(page.matches("<tr>").count(), 31, "a header row and 30 days");
    let admitted: u64 = expected.values().map(|d| d.admitted).sum();
    assert!(page.contains(&format!("<strong>{admitted}</strong> requests admitted")), "the month's total");
    assert!(!page.contains("999"), "the day before the 30 is not shown");

    // Another user of the organization, and Ada signed in to another organization: 404.
    assert_eq!(get_page(&app, &path, "eve").await.0, StatusCode::NOT_FOUND);
    assert_eq!(get_page(&app, &path, "ada-at-initech").await.0, StatusCode::NOT_FOUND);
    // A token of another kind, though Ada's: not the portal's.
    let cli = store.issue(NewToken::for_subject("user_ada").organization("acme").kind("cli")).await.unwrap();
    let other = format!("/account/tokens/{}/usage", cli.id().as_str());
    assert_eq!(get_page(&app, &other, "ada").await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn without_a_usage_log_there_is_no_usage_page() {
    let store = MemoryTokenStore::new();
    let app = Router::new().nest("/t", TokenPortal::new(store, signed_in, KEY).router());
    let (status, _, _) = get_page(&app, "/t/tid_x/usage", "ada").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, list, _) = get_page(&app, "/t", "ada").await;
    assert!(!list.contains("/usage"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_usage_chart_in_a_real_browser() {
    let Some(driver) = ChromeDriver::start() else { return };
    let (_store, _laptop, expected, app) = setup().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let browser = driver.session().await;
    let outcome = tokio::spawn(read_the_chart(browser.clone(), origin, expected)).await;
    browser.close().await.unwrap();
    server.abort();
    if let Err(failure) = outcome {
        std::panic::resume_unwind(failure.into_panic());
    }
}

/// The `<title>`s of the chart's bars of `class`, as day → number.
async fn bars(browser: &Client, class: &str, word: &str) -> BTreeMap<String, u64> {
    let mut found = BTreeMap::new();
    for title in browser.find_all(Locator::Css(&format!("svg.chart rect.bar.{class} > title"))).await.unwrap()
    {
        let label = title.prop("textContent").await.unwrap().unwrap();
        let (day, rest) = label.split_once(": ").unwrap();
        let n = rest.split_once(&format!(" {word}")).unwrap().0.parse().unwrap();
        found.insert(day.to_owned(), n);
    }
    found
}

async fn read_the_chart(browser: Client, origin: String, expected: BTreeMap<String, Day>) {
    browser.goto(&format!("{origin}/sign-in/ada")).await.unwrap();
    let link = "//tr[th[normalize-space()='Laptop CLI']]//a[starts-with(normalize-space(), 'Usage')]";
    browser.wait().for_element(Locator::XPath(link)).await.unwrap().click().await.unwrap();
    heading(&browser, "Usage of “Laptop CLI”").await;

    // The table, as a reader (or a screen reader) has it.
    let mut table = BTreeMap::new();
    for row in browser.find_all(Locator::Css("table.usage tbody tr")).await.unwrap() {
        let day = row.find(Locator::Css("th")).await.unwrap().text().await.unwrap();
        let cells = row.find_all(Locator::Css("td")).await.unwrap();
        let number = |i: usize| {
            let cell = cells[i].clone();
            async move { cell.text().await.unwrap().parse::<u64>().unwrap() }
        };
        table.insert(day, Day { admitted: number(0).await, refused: number(1).await });
    }
    assert_eq!(table, expected, "the table has every day's numbers, as added to the log");

    // The chart: a bar for each day with requests, its number in its label.
    let nonzero = |f: fn(&Day) -> u64| -> BTreeMap<String, u64> {
        expected.iter().filter(|(_, d)| f(d) > 0).map(|(k, d)| (k.clone(), f(d))).collect()
    };
    assert_eq!(bars(&browser, "admitted", "admitted").await, nonzero(|d| d.admitted));
    assert_eq!(bars(&browser, "refused", "refused").await, nonzero(|d| d.refused));
    // Drawn, and to scale: the busiest day's bar is the tallest.
    let chart = browser.find(Locator::Css("svg.chart")).await.unwrap();
    assert!(chart.is_displayed().await.unwrap());
    let (_, _, width, height) = chart.rectangle().await.unwrap();
    assert!(width > 500.0 && height > 150.0, "the chart is drawn at its size: {width}x{height}");
    let script = "return Array.from(document.querySelectorAll('rect.bar.admitted'), \
                  r => [r.querySelector('title').textContent, r.getBoundingClientRect().height])";
    let drawn = browser.execute(script, vec![]).await.unwrap();
    let drawn = drawn.as_array().unwrap();
    let tallest = drawn.iter().max_by(|a, b| a[1].as_f64().partial_cmp(&b[1].as_f64()).unwrap()).unwrap();
    let busiest = expected.values().map(|d| d.admitted).max().unwrap();
    assert!(tallest[0].as_str().unwrap().ends_with(&format!(": {busiest} admitted")), "{tallest}");
    screenshot(&browser, "portal-usage.png").await;
}
