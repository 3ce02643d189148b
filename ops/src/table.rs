//! Plain aligned tables and short human durations for operator output.

use comfy_table::{CellAlignment, ContentArrangement, Table, presets};
use jobfleet_contract::text::truncate_chars;

/// Renders rows under a header, columns padded to their widest cell
/// (comfy-table, drawn without any lines: output stays greppable and
/// `awk`-friendly). Columns flagged in `right` (numbers) are right-aligned.
/// Trailing spaces are trimmed, so long text at the end of a row does not
/// add any.
pub fn render(header: &[&str], rows: &[Vec<String>], right: &[bool]) -> String {
    let mut table = Table::new();
    table.load_style(presets::NOTHING).set_content_arrangement(ContentArrangement::Disabled).set_header(header.to_vec());
    for row in rows {
        table.add_row(row.iter().take(header.len()).cloned().collect::<Vec<_>>());
    }
    for (column, right) in table.column_iter_mut().zip(right.iter().chain(std::iter::repeat(&false))) {
        // Two spaces between columns, none before the first.
        column.set_padding((0, 2));
        column.set_cell_alignment(if *right { CellAlignment::Right } else { CellAlignment::Left });
    }
    table.lines().map(|line| format!("{}\n", line.trim_end())).collect()
}

/// `42s`, `5m12s`, `3h05m`, `2d04h`.
pub fn human_age(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3_600 => format!("{}m{:02}s", s / 60, s % 60),
        s if s < 86_400 => format!("{}h{:02}m", s / 3_600, (s % 3_600) / 60),
        s => format!("{}d{:02}h", s / 86_400, (s % 86_400) / 3_600),
    }
}

/// Cuts `text` to `max` characters (with `…`) and flattens newlines.
pub fn ellipsize(text: &str, max: usize) -> String {
    let flat: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    // The cell is at most `max` wide, the ellipsis included.
    if flat.chars().count() > max { truncate_chars(&flat, max.saturating_sub(1)) } else { flat }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_and_numbers_align_right() {
        let rows = vec![vec!["media".to_owned(), "5".to_owned(), "x".to_owned()], vec!["ai".to_owned(), "1200".to_owned(), "".to_owned()]];
        let text = render(&["POOL", "VISIBLE", "NOTE"], &rows, &[false, true, false]);
        assert_eq!(text, "POOL   VISIBLE  NOTE\nmedia        5  x\nai        1200\n");
        assert_eq!(render(&["A", "B"], &[], &[]), "A  B\n", "a header alone");
        let wide = render(&["ID", "ERROR"], &[vec!["é".into(), "x".repeat(300)]], &[]);
        assert_eq!(wide.lines().count(), 2, "never wrapped to a terminal width: {wide}");
        assert_eq!(wide.lines().nth(1), Some(format!("é   {}", "x".repeat(300)).as_str()));
    }

    #[test]
    fn ages_are_short() {
        assert_eq!(human_age(5), "5s");
        assert_eq!(human_age(312), "5m12s");
        assert_eq!(human_age(3 * 3600 + 300), "3h05m");
        assert_eq!(human_age(2 * 86_400 + 4 * 3600), "2d04h");
    }

    #[test]
    fn ellipsize_cuts_on_characters() {
        assert_eq!(ellipsize("héllo wörld", 5), "héll…");
        assert_eq!(ellipsize("short", 10), "short");
        assert_eq!(ellipsize("a\nb", 10), "a b");
    }
}
