//! Plain aligned tables and short human durations for operator output.

/// Renders rows under a header, columns padded to their widest cell.
/// Columns flagged in `right` (numbers) are right-aligned. The last column
/// is never padded, so long text at the end of a row does not add spaces.
pub fn render(header: &[&str], rows: &[Vec<String>], right: &[bool]) -> String {
    let columns = header.len();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(columns) {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate().take(columns) {
            if i > 0 {
                line.push_str("  ");
            }
            let pad = widths[i].saturating_sub(cell.chars().count());
            let last = i + 1 == columns.min(row.len());
            if right.get(i).copied().unwrap_or(false) {
                line.push_str(&" ".repeat(pad));
                line.push_str(cell);
            } else {
                line.push_str(cell);
                if !last {
                    line.push_str(&" ".repeat(pad));
                }
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
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
    match flat.char_indices().nth(max.saturating_sub(1)) {
        Some((cut, _)) if flat.chars().count() > max => format!("{}…", &flat[..cut]),
        _ => flat,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_and_numbers_align_right() {
        let rows = vec![vec!["media".to_owned(), "5".to_owned(), "x".to_owned()], vec!["ai".to_owned(), "1200".to_owned(), "".to_owned()]];
        let text = render(&["POOL", "VISIBLE", "NOTE"], &rows, &[false, true, false]);
        assert_eq!(text, "POOL   VISIBLE  NOTE\nmedia        5  x\nai        1200\n");
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
