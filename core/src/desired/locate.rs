//! Maps a key path (`client.endpoints[1].port`) back to a line and column of the
//! TOML source, so semantic errors point where the operator must edit.

/// 1-based (line, column) of a byte offset.
pub fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(src.len());
    let before = &src[..floor_char_boundary(src, offset)];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

fn segments(path: &str) -> Vec<Seg<'_>> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (key, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            out.push(Seg::Key(key));
        }
        while let Some(stripped) = rest.strip_prefix('[') {
            let Some(end) = stripped.find(']') else { break };
            if let Ok(i) = stripped[..end].parse() {
                out.push(Seg::Index(i));
            }
            rest = &stripped[end + 1..];
        }
    }
    out
}

/// The position of the deepest item of `path` found in `src` (a parent when the
/// key itself is absent, e.g. a missing field), or `None` if nothing matched.
pub fn position(src: &str, path: &str) -> Option<(usize, usize)> {
    let doc = toml_edit::ImDocument::parse(src).ok()?;
    let mut item: &toml_edit::Item = doc.as_item();
    let mut best: Option<std::ops::Range<usize>> = None;
    for seg in segments(path) {
        let next = match seg {
            Seg::Key(k) => item.get(k),
            Seg::Index(i) => item.get(i),
        };
        match next {
            Some(n) => {
                item = n;
                if let Some(span) = span_of(n) {
                    best = Some(span);
                }
            }
            None => break,
        }
    }
    best.map(|span| line_col(src, span.start))
}

fn span_of(item: &toml_edit::Item) -> Option<std::ops::Range<usize>> {
    match item {
        toml_edit::Item::Table(t) => t.span(),
        toml_edit::Item::Value(v) => v.span(),
        toml_edit::Item::ArrayOfTables(a) => a.span(),
        toml_edit::Item::None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_keys() {
        let src = "[client]\nsocks_address = \"x\"\n\n[[client.endpoints]]\nhostname = \"a\"\n\n[[client.endpoints]]\nhostname = \"b\"\nport = 0\n";
        assert_eq!(position(src, "client.socks_address"), Some((2, 17)));
        assert_eq!(position(src, "client.endpoints[1].port"), Some((9, 8)));
        // missing key: falls back to its table
        assert_eq!(
            position(src, "client.endpoints[1].tag").map(|p| p.0),
            Some(7)
        );
    }

    #[test]
    fn line_col_counts_chars() {
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
        assert_eq!(line_col("", 10), (1, 1));
    }
}
