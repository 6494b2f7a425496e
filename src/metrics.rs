//! The Prometheus text exposition format (version 0.0.4) for `GET /api/v1/metrics`
//! (API.md 16.2): families with `# HELP` and `# TYPE` (every borgbox metric is a gauge),
//! label values escaped. Pure: numbers in, text out, written straight into one string.

use std::fmt::Write;

#[derive(Debug, Default)]
pub struct Exposition {
    out: String,
}

/// `\`, `"` and line feeds escaped, as the format requires in label values.
fn escape(value: &str, out: &mut String) {
    if !value.contains(['\\', '"', '\n']) {
        out.push_str(value);
        return;
    }
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

impl Exposition {
    pub fn with_capacity(bytes: usize) -> Exposition {
        Exposition {
            out: String::with_capacity(bytes),
        }
    }

    /// Starts a family; its samples follow.
    pub fn family(&mut self, name: &str, help: &str) {
        let _ = write!(self.out, "# HELP {name} {help}\n# TYPE {name} gauge\n");
    }

    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: i64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (label, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                self.out.push_str(label);
                self.out.push_str("=\"");
                escape(value, &mut self.out);
                self.out.push('"');
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }

    pub fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_have_help_type_and_escaped_labels() {
        let mut text = Exposition::default();
        text.family("borgbox_repo_size_bytes", "Bytes of the repo's files.");
        text.sample("borgbox_repo_size_bytes", &[("repo", "a\\b\"c\nd")], 12);
        text.sample(
            "borgbox_repo_size_bytes",
            &[("repo", "mac"), ("kind", "check")],
            0,
        );
        text.family("borgbox_x", "X.");
        text.sample("borgbox_x", &[], -1);
        assert_eq!(
            text.finish(),
            "# HELP borgbox_repo_size_bytes Bytes of the repo's files.\n\
             # TYPE borgbox_repo_size_bytes gauge\n\
             borgbox_repo_size_bytes{repo=\"a\\\\b\\\"c\\nd\"} 12\n\
             borgbox_repo_size_bytes{repo=\"mac\",kind=\"check\"} 0\n\
             # HELP borgbox_x X.\n\
             # TYPE borgbox_x gauge\n\
             borgbox_x -1\n"
        );
    }
}
