//! The Prometheus text exposition format (version 0.0.4) for `GET /api/v1/metrics`
//! (API.md 16.2): families with `# HELP` and `# TYPE`, label values escaped. Pure: takes
//! numbers, returns text.

use std::fmt::Write;

/// One metric family; every borgbox metric is a gauge.
#[derive(Debug, Clone)]
pub struct Family {
    pub name: &'static str,
    pub help: &'static str,
    pub samples: Vec<Sample>,
}

#[derive(Debug, Clone)]
pub struct Sample {
    pub labels: Vec<(&'static str, String)>,
    pub value: i64,
}

impl Family {
    pub fn new(name: &'static str, help: &'static str) -> Family {
        Family {
            name,
            help,
            samples: Vec::new(),
        }
    }

    pub fn add(&mut self, labels: Vec<(&'static str, String)>, value: i64) {
        self.samples.push(Sample { labels, value });
    }

    pub fn one(mut self, value: i64) -> Family {
        self.add(Vec::new(), value);
        self
    }
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

pub fn render(families: &[Family]) -> String {
    let mut out = String::with_capacity(families.iter().map(|f| 64 * (1 + f.samples.len())).sum());
    for family in families {
        let _ = writeln!(out, "# HELP {} {}", family.name, family.help);
        let _ = writeln!(out, "# TYPE {} gauge", family.name);
        for sample in &family.samples {
            out.push_str(family.name);
            if !sample.labels.is_empty() {
                out.push('{');
                for (i, (name, value)) in sample.labels.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(name);
                    out.push_str("=\"");
                    escape(value, &mut out);
                    out.push('"');
                }
                out.push('}');
            }
            let _ = writeln!(out, " {}", sample.value);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_have_help_type_and_escaped_labels() {
        let mut repo = Family::new("borgbox_repo_size_bytes", "Bytes of the repo's files.");
        repo.add(vec![("repo", "a\\b\"c\nd".into())], 12);
        repo.add(vec![("repo", "mac".into()), ("kind", "check".into())], 0);
        let text = render(&[repo, Family::new("borgbox_x", "X.").one(-1)]);
        assert_eq!(
            text,
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
