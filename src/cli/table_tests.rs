//! CLI tables fit the terminal's width.

use super::{elide, fit_widths, table_lines};

fn audit_row() -> Vec<String> {
    vec![
        "2026-12-03 14:02:11".into(),
        "amara.okafor".into(),
        "rollback".into(),
        "checkout-service@production/eu-west-1".into(),
        "the 2.14 release doubles the p99 latency of the payment step".into(),
        "version 2.14.0 → 2.13.2".into(),
        "ok".into(),
    ]
}

const HEADER: [&str; 7] = [
    "TIME (UTC)",
    "WHO",
    "ACTION",
    "TARGET",
    "REASON",
    "CHANGE",
    "OUTCOME",
];

#[test]
fn an_audit_record_fits_80_columns_on_one_line_with_the_widest_cells_elided() {
    let lines = table_lines(&HEADER, &[audit_row()], Some(80));
    assert_eq!(lines.len(), 2);
    for l in &lines {
        assert!(l.chars().count() <= 80, "{} wide: {l}", l.chars().count());
    }
    let row = &lines[1];
    // The short columns are whole; the wide ones are cut, to one width, with an ellipsis.
    assert!(
        row.starts_with("2026-12-03 14:02:11  amara.o…  rollback  "),
        "{row}"
    );
    assert!(row.contains("  checkou…  the 2.1…  version…  "), "{row}");
    assert!(row.trim_end().ends_with("  ok"), "{row}");
}

#[test]
fn with_no_width_nothing_is_cut() {
    let lines = table_lines(&HEADER, &[audit_row()], None);
    assert!(lines[1].contains("the 2.14 release doubles the p99 latency of the payment step"));
    assert!(!lines[1].contains('…'));
    // A wide enough terminal cuts nothing either.
    assert_eq!(table_lines(&HEADER, &[audit_row()], Some(500)), lines);
}

#[test]
fn widths_are_cut_widest_first_and_never_below_the_minimum() {
    assert_eq!(fit_widths(&[10, 40, 20], 60), vec![10, 26, 20]);
    assert_eq!(fit_widths(&[10, 40, 30], 50), vec![10, 18, 18]);
    assert_eq!(fit_widths(&[5, 30, 30], 10), vec![5, 8, 8]);
    assert_eq!(fit_widths(&[5, 6], 3), vec![5, 6]);
}

#[test]
fn an_elided_cell_is_as_wide_as_its_column_and_ends_in_an_ellipsis() {
    assert_eq!(elide("checkout-service", 8), "checkou…");
    assert_eq!(elide("ok", 8), "ok");
    assert_eq!(elide("é→ü→ö→ä", 4), "é→ü…");
}
