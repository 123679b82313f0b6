//! The timeline as one self-contained HTML page (`timeline_page.html`: inline SVG and script, no
//! network): the lanes of every rank, a table per function, the bytes moved between ranks and
//! each worker's busy fraction over time, drawn by the page's script from the Chrome trace it
//! carries.

use serde_json::Value;

const TEMPLATE: &str = include_str!("timeline_page.html");

/// The page showing `trace` (a trace `chrome_trace::render` made).
pub(crate) fn page(trace: &Value) -> String {
    // Inside a script element, `</` could end it early: JSON lets it be written `<\/`.
    let json = serde_json::to_string(trace).expect("a trace serializes").replace("</", "<\\/");
    TEMPLATE.replacen("/*TRACE*/", &json, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_carries_the_trace_where_its_script_reads_it_and_nothing_from_the_network() {
        let trace = serde_json::json!({"traceEvents": [{"name": "a</script>b", "ph": "X"}]});
        let page = page(&trace);
        let start = page.find(r#"<script type="application/json" id="trace">"#).unwrap();
        let carried = &page[start..];
        let carried = &carried[carried.find('>').unwrap() + 1..carried.find("</script>").unwrap()];
        let read: Value = serde_json::from_str(carried).unwrap();
        assert_eq!(read, trace, "the `<\\/` JSON escape reads back as `</`");
        assert!(!page.contains("/*TRACE*/"));
        for remote in ["http://", "https://", "//cdn", "<link"] {
            let outside_svg_namespace = page.replace("http://www.w3.org/2000/svg", "");
            assert!(!outside_svg_namespace.contains(remote), "the page loads {remote}");
        }
    }
}
