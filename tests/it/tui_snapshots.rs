//! Golden screens of the shell and the catalog pane at 120x40 and 80x24.

use sphere::tui::harness::Harness;

async fn screen(w: u16, h: u16, keys: &str) -> String {
    let mut app = Harness::demo(w, h).await.expect("demo platform opens");
    app.keys(keys);
    app.render()
}

#[tokio::test]
async fn catalog_120x40() {
    insta::assert_snapshot!(screen(120, 40, "").await);
}

#[tokio::test]
async fn catalog_80x24() {
    insta::assert_snapshot!(screen(80, 24, "").await);
}

#[tokio::test]
async fn catalog_160x48_with_side_panel() {
    insta::assert_snapshot!(screen(160, 48, "jj").await);
}

#[tokio::test]
async fn catalog_filtered_80x24() {
    insta::assert_snapshot!(screen(80, 24, "/check").await);
}

#[tokio::test]
async fn catalog_grouped_by_owner_120x40() {
    insta::assert_snapshot!(screen(120, 40, "o").await);
}

#[tokio::test]
async fn service_detail_120x40() {
    insta::assert_snapshot!(screen(120, 40, "<Enter>").await);
}

#[tokio::test]
async fn help_80x24() {
    insta::assert_snapshot!(screen(80, 24, "?").await);
}

#[tokio::test]
async fn palette_80x24() {
    insta::assert_snapshot!(screen(80, 24, ":scope").await);
}

#[tokio::test]
async fn matrix_120x40() {
    insta::assert_snapshot!(screen(120, 40, "2").await);
}

#[tokio::test]
async fn matrix_80x24_production_drifted() {
    insta::assert_snapshot!(screen(80, 24, "2eeed").await);
}

#[tokio::test]
async fn pods_120x40() {
    let s = screen(120, 40, "/reviews-service<Enter>3").await;
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"\b\d+(d\d+h|h\d+m|m|s)\b", "[age]");
    settings.bind(|| insta::assert_snapshot!(s));
}

/// At 200 columns the pods table (beside the deployments) has room for the node and
/// the last termination.
#[tokio::test]
async fn pods_200x50() {
    let s = screen(200, 50, "/reviews-service<Enter>3").await;
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"\b\d+(d\d+h|h\d+m|m|s)\b", "[age]");
    settings.bind(|| insta::assert_snapshot!(s));
}

#[tokio::test]
async fn catalog_200x50_with_side_panel() {
    insta::assert_snapshot!(screen(200, 50, "jj").await);
}

#[tokio::test]
async fn pods_80x24() {
    let s = screen(80, 24, "/reviews-service<Enter>3").await;
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"\b\d+(d\d+h|h\d+m|m|s)\b", "[age]");
    settings.bind(|| insta::assert_snapshot!(s));
}

#[tokio::test]
async fn audit_120x40() {
    let s = screen(120, 40, "6").await;
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}(:\d{2})?", "[time]");
    settings.bind(|| insta::assert_snapshot!(s));
}

fn mask_ages(s: String) -> String {
    let re_age = |s: &str| -> String {
        // "136d21h", "4h2m", "12m", "40s" → "[age]" (no regex crate: a small scan).
        let mut out = String::new();
        for word in s.split_inclusive(' ') {
            let w = word.trim_end();
            let is_age = !w.is_empty()
                && w.chars().next().is_some_and(|c| c.is_ascii_digit())
                && w.chars().all(|c| c.is_ascii_digit() || "dhms".contains(c))
                && w.chars().any(|c| "dhms".contains(c));
            if is_age {
                out.push_str("[age]");
                out.push_str(&word[w.len()..]);
            } else {
                out.push_str(word);
            }
        }
        out
    };
    s.lines().map(re_age).collect::<Vec<_>>().join("\n")
}

#[tokio::test]
async fn secrets_120x40() {
    insta::assert_snapshot!(mask_ages(screen(120, 40, "/api-gateway<Enter>4").await));
}

#[tokio::test]
async fn secrets_80x24() {
    insta::assert_snapshot!(mask_ages(screen(80, 24, "/api-gateway<Enter>4").await));
}

#[tokio::test]
async fn flags_120x40() {
    insta::assert_snapshot!(screen(120, 40, "5").await);
}

#[tokio::test]
async fn flags_80x24_drifted() {
    insta::assert_snapshot!(screen(80, 24, "5d").await);
}

/// The demo with `pr-42` made from staging in eu-west-1 for three days through the
/// palette's form, the screen's clock one day and an hour later.
async fn with_environment(w: u16, h: u16) -> Harness {
    let mut app = Harness::demo(w, h).await.expect("demo platform opens");
    app.keys(":env create<Enter>pr-42<Tab><Tab><Right><Right><Tab><Backspace><Backspace>3d<Enter><Enter>");
    let expires = app
        .model
        .topology
        .ephemeral("pr-42")
        .map(|e| e.expires_at)
        .expect("created");
    app.model.now_override = Some(expires - 2 * 86_400 + 3_600);
    app.model.toasts.clear();
    app
}

#[tokio::test]
async fn env_form_80x24() {
    insta::assert_snapshot!(screen(80, 24, ":env create<Enter>pr-42<Tab>").await);
}

#[tokio::test]
async fn matrix_80x24_ephemeral_environment() {
    let mut app = with_environment(80, 24).await;
    app.keys("2:env list<Enter><Enter>");
    insta::assert_snapshot!(app.render());
}

#[tokio::test]
async fn matrix_160x48_with_an_ephemeral_environment() {
    let mut app = with_environment(160, 48).await;
    // The last cells: the view scrolls to pr-42's column.
    app.keys("2lllllllll");
    insta::assert_snapshot!(app.render());
}

#[tokio::test]
async fn hpa_form_80x24() {
    insta::assert_snapshot!(screen(80, 24, "/payments-api<Enter>3eeH<Tab>99").await);
}

#[tokio::test]
async fn golden_path_progress_80x24() {
    let mut app = Harness::demo(80, 24).await.expect("demo platform opens");
    app.sim.fail_next("register");
    app.keys("nfraud-scorer<Tab>Scores payments<Tab><Right><Enter>INC-3<Enter>");
    app.model.toasts.clear();
    insta::assert_snapshot!(app.render());
}

#[tokio::test]
async fn problems_80x24() {
    let s = screen(80, 24, "7").await;
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"\b\d+(d\d+h|h\d+m|m|s)\b", "[age]");
    settings.bind(|| insta::assert_snapshot!(s));
}

#[tokio::test]
async fn pod_view_80x24() {
    let s = screen(80, 24, "7<Enter>").await;
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"\b\d+(d\d+h|h\d+m|m|s)\b", "[age]");
    settings.add_filter(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", "[time]");
    settings.bind(|| insta::assert_snapshot!(s));
}
