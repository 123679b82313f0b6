//! The timeline as one self-contained HTML page (`timeline_page.html`: inline SVG and script, no
//! network): the lanes of every rank, a table per function, the bytes moved between ranks and
//! each worker's busy fraction over time, drawn by the page's script from the Chrome trace it
//! carries.

use std::io::{self, Write};

use serde_json::Value;

const TEMPLATE: &str = include_str!("timeline_page.html");

/// Writes the page showing `trace` (a trace `chrome_trace::render` made) to `out`, the trace
/// streamed into it (a large run's trace is hundreds of megabytes: no copy of it is made).
pub(crate) fn write(trace: &Value, out: &mut impl Write) -> io::Result<()> {
    let (before, after) = TEMPLATE.split_once("/*TRACE*/").expect("the template has its place");
    out.write_all(before.as_bytes())?;
    serde_json::to_writer(NoMarkup(&mut *out), trace)?;
    out.write_all(after.as_bytes())
}

/// Writes JSON with every `<` as `\u003c`, which JSON allows only inside strings and reads back
/// the same: inside the page's script element no `</script` or `<!--` can then end it early or
/// change how the HTML parser reads it.
struct NoMarkup<W>(W);

impl<W: Write> Write for NoMarkup<W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        for (i, part) in bytes.split(|b| *b == b'<').enumerate() {
            if i > 0 {
                self.0.write_all(b"\\u003c")?;
            }
            self.0.write_all(part)?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_carries_the_trace_where_its_script_reads_it_and_nothing_from_the_network() {
        let trace = serde_json::json!({"traceEvents": [
            {"name": "a</script>b", "ph": "X"},
            {"name": "<!--<script>", "ph": "X"},
        ]});
        let mut page = Vec::new();
        write(&trace, &mut page).unwrap();
        let page = String::from_utf8(page).unwrap();
        let start = page.find(r#"<script type="application/json" id="trace">"#).unwrap();
        let carried = &page[start..];
        let carried = &carried[carried.find('>').unwrap() + 1..carried.find("</script>").unwrap()];
        let read: Value = serde_json::from_str(carried).unwrap();
        assert_eq!(read, trace, "the `\\u003c` JSON escape reads back as `<`");
        assert!(!carried.contains('<'), "no markup inside the script element");
        assert!(!page.contains("/*TRACE*/"));
        for remote in ["http://", "https://", "//cdn", "<link"] {
            let outside_svg_namespace = page.replace("http://www.w3.org/2000/svg", "");
            assert!(!outside_svg_namespace.contains(remote), "the page loads {remote}");
        }
    }
}
