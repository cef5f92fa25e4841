//! Text and JSON output: number formats, aligned tables, and a small JSON
//! object builder (the records are flat, so no serialisation crate).

use std::fmt::Write as _;

/// The header of the text report.
pub fn header_text(lines: &[(&str, String)]) -> String {
    let width = lines.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut out = String::from("shmq bench\n");
    for (key, value) in lines {
        let _ = writeln!(out, "  {key:<width$}  {value}");
    }
    out
}

/// Builds one JSON object, keys in order.
#[derive(Debug)]
pub struct Json(String);

impl Json {
    /// An empty object.
    pub fn new() -> Self {
        Json(String::from("{"))
    }

    /// A measurement record's identifying fields. `round` is always null:
    /// there are no rounds since the paired method (a record sums up every
    /// pair of blocks), and the key stays for readers of older records.
    pub fn record(transport: &str, mode: &str, size: usize) -> Self {
        Json::new()
            .str("record", "measurement")
            .str("transport", transport)
            .str("mode", mode)
            .int("size", Some(size as u64))
            .null("round")
    }

    fn key(&mut self, key: &str) {
        if self.0.len() > 1 {
            self.0.push(',');
        }
        push_json_string(&mut self.0, key);
        self.0.push(':');
    }

    /// A string field.
    pub fn str(mut self, key: &str, value: &str) -> Self {
        self.key(key);
        push_json_string(&mut self.0, value);
        self
    }

    /// An array of strings.
    pub fn strs<'a>(mut self, key: &str, values: impl IntoIterator<Item = &'a str>) -> Self {
        self.key(key);
        self.0.push('[');
        for (i, value) in values.into_iter().enumerate() {
            if i > 0 {
                self.0.push(',');
            }
            push_json_string(&mut self.0, value);
        }
        self.0.push(']');
        self
    }

    /// An array of integers.
    pub fn ints(mut self, key: &str, values: impl IntoIterator<Item = u64>) -> Self {
        self.key(key);
        let values: Vec<String> = values.into_iter().map(|v| v.to_string()).collect();
        let _ = write!(self.0, "[{}]", values.join(","));
        self
    }

    /// An integer field, or null.
    pub fn int(mut self, key: &str, value: Option<u64>) -> Self {
        self.key(key);
        match value {
            Some(v) => {
                let _ = write!(self.0, "{v}");
            }
            None => self.0.push_str("null"),
        }
        self
    }

    /// A number field, to four significant digits (null if absent or not
    /// finite).
    pub fn num(mut self, key: &str, value: Option<f64>) -> Self {
        self.key(key);
        match value.filter(|v| v.is_finite()) {
            Some(v) => self.0.push_str(&json_number(v)),
            None => self.0.push_str("null"),
        }
        self
    }

    /// A null field.
    pub fn null(mut self, key: &str) -> Self {
        self.key(key);
        self.0.push_str("null");
        self
    }

    /// The object's text.
    pub fn finish(mut self) -> String {
        self.0.push('}');
        self.0
    }
}

/// A finite number as JSON, four significant digits, integral from 10^4
/// up: `1.318`, `0.0002061`, `472.7`, `824500000`.
fn json_number(value: f64) -> String {
    if value == 0.0 {
        return "0".to_owned();
    }
    let magnitude = value.abs().log10().floor() as i32;
    if magnitude >= 4 {
        return format!("{value:.0}");
    }
    let decimals = (3 - magnitude) as usize;
    let text = format!("{value:.decimals$}");
    if decimals == 0 {
        // 1000 to 9999: no decimals, so no trailing zeros to drop.
        return text;
    }
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

fn push_json_string(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Right-aligns every column but the first.
pub fn render_table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::from(" ");
        for (c, cell) in row.iter().enumerate() {
            let width = widths[c];
            if c == 0 {
                let _ = write!(line, " {cell:<width$}");
            } else {
                let _ = write!(line, "  {cell:>width$}");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

pub fn plural(n: u64, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// `64 B`, `1 KiB`, `1 MiB`, `1500 B`.
pub fn format_size(bytes: usize) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} B"),
    }
}

/// Three significant digits (`2.31`, `231`, `0.0231`, `2.31e-5`).
pub fn three_digits(value: f64) -> String {
    if value >= 1e6 || (value > 0.0 && value < 0.01) {
        format!("{value:.2e}")
    } else if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else if value >= 1.0 {
        format!("{value:.2}")
    } else if value > 0.0 {
        let decimals = (2.0 - value.log10().floor()) as usize;
        format!("{value:.decimals$}")
    } else {
        "0".to_owned()
    }
}

/// A duration in nanoseconds: `130ns`, `1.23us`, `61.2us`, `1.05ms`.
pub fn format_ns(ns: f64) -> String {
    if ns < 1e3 {
        format!("{ns:.0}ns")
    } else if ns < 1e6 {
        format!("{}us", three_digits(ns / 1e3))
    } else if ns < 1e9 {
        format!("{}ms", three_digits(ns / 1e6))
    } else {
        format!("{}s", three_digits(ns / 1e9))
    }
}

/// A count per second: `52.1M`, `812k`.
pub fn format_count(per_second: f64) -> String {
    if per_second >= 1e9 {
        format!("{}G", three_digits(per_second / 1e9))
    } else if per_second >= 1e6 {
        format!("{}M", three_digits(per_second / 1e6))
    } else if per_second >= 1e3 {
        format!("{}k", three_digits(per_second / 1e3))
    } else {
        three_digits(per_second)
    }
}

/// Bytes per second in decimal units: `3.33 GB/s`.
pub fn format_bytes_rate(per_second: f64) -> String {
    if per_second >= 1e9 {
        format!("{} GB/s", three_digits(per_second / 1e9))
    } else if per_second >= 1e6 {
        format!("{} MB/s", three_digits(per_second / 1e6))
    } else {
        format!("{} kB/s", three_digits(per_second / 1e3))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(format_ns(130.4), "130ns");
        assert_eq!(format_ns(1234.0), "1.23us");
        assert_eq!(format_ns(61_200.0), "61.2us");
        assert_eq!(format_ns(1_050_000.0), "1.05ms");
        assert_eq!(three_digits(0.0231), "0.0231");
        assert_eq!(three_digits(0.0000231), "2.31e-5");
        assert_eq!(three_digits(231.4), "231");
        assert_eq!(format_size(64), "64 B");
        assert_eq!(format_size(65536), "64 KiB");
        assert_eq!(format_size(1 << 20), "1 MiB");
        assert_eq!(format_size(1500), "1500 B");
        assert_eq!(json_number(1.318_4), "1.318");
        assert_eq!(json_number(1.0), "1");
        assert_eq!(json_number(0.000_206_14), "0.0002061");
        assert_eq!(json_number(472.66), "472.7");
        assert_eq!(json_number(1100.2), "1100");
        assert_eq!(json_number(1000.0), "1000");
        assert_eq!(json_number(824_499_999.999_9), "824500000");
        assert_eq!(json_number(-2.5), "-2.5");
    }

    #[test]
    fn json() {
        let line = Json::new()
            .str("a", "x\"y\n")
            .int("b", Some(3))
            .num("c", Some(f64::NAN))
            .num("d", Some(0.5))
            .strs("e", ["p", "q"])
            .finish();
        assert_eq!(
            line,
            r#"{"a":"x\"y\n","b":3,"c":null,"d":0.5,"e":["p","q"]}"#
        );
    }
}
