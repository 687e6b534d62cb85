//! Every documentation reference in the repository resolves inside it: a `docs/<page>.md#<heading>`
//! written in code, tests, scripts or documentation names a page that exists and a heading on it,
//! and the relative links between the `docs/` pages land on headings too. Headings are matched by
//! the anchors GitHub derives from them, so a reference that passes here is a working link there.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Where references may be written. Folders are searched recursively.
const SCANNED: &[&str] = &[
    "src",
    "tests",
    "migrations",
    "bench",
    "benches",
    "examples",
    "crates",
    "docs",
    "README.md",
    "ARCHITECTURE.md",
    "Cargo.toml",
    ".env.example",
    "Dockerfile",
];

/// Text files worth reading; `bench/results/` also holds images and raw measurements.
const TEXT_EXTENSIONS: &[&str] = &[
    "rs", "md", "sql", "py", "sh", "mjs", "js", "json", "toml", "yml", "yaml", "txt", "example",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn is_text(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if name == "Dockerfile" || name == ".env.example" {
        return true;
    }
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| TEXT_EXTENSIONS.contains(&e))
}

fn collect(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        let entries = fs::read_dir(path)
            .unwrap_or_else(|error| panic!("cannot list {}: {error}", path.display()));
        let mut children: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        children.sort();
        for child in children {
            let skipped = child
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n == "node_modules" || n == "target" || n.starts_with('.'));
            if !skipped {
                collect(&child, out);
            }
        }
    } else if is_text(path) {
        out.push(path.to_path_buf());
    }
}

/// The files to check, with their text and their path relative to the repository.
fn scanned_files() -> Vec<(String, String)> {
    let root = root();
    let mut paths = Vec::new();
    for entry in SCANNED {
        let path = root.join(entry);
        if path.exists() {
            collect(&path, &mut paths);
        }
    }
    paths
        .into_iter()
        .filter_map(|path| {
            // A file that is not UTF-8 text holds no references.
            let text = fs::read_to_string(&path).ok()?;
            let relative = path
                .strip_prefix(&root)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            Some((relative, text))
        })
        .collect()
}

/// The anchor GitHub derives from a heading: lower case, punctuation dropped (hyphens and
/// underscores kept), spaces as hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors of a Markdown page, headings in code blocks excluded, repeats numbered as GitHub
/// numbers them (`name`, `name-1`, …).
fn anchors(markdown: &str) -> BTreeSet<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut anchors = BTreeSet::new();
    let mut in_code = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        let hashes = line.chars().take_while(|&c| c == '#').count();
        if !(1..=6).contains(&hashes) || !line[hashes..].starts_with(' ') {
            continue;
        }
        let base = slug(&line[hashes..]);
        let count = seen.entry(base.clone()).or_insert(0);
        let anchor = if *count == 0 {
            base.clone()
        } else {
            format!("{base}-{count}")
        };
        *count += 1;
        anchors.insert(anchor);
    }
    anchors
}

fn is_anchor_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// A reference found in a file: the page (relative to the repository) and the anchor, if any.
#[derive(Debug)]
struct Reference {
    at: String,
    page: String,
    anchor: Option<String>,
}

/// Every `docs/<page>.md[#anchor]` in a text.
fn docs_references(file: &str, text: &str) -> Vec<Reference> {
    let mut found = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let mut rest = line;
        while let Some(start) = rest.find("docs/") {
            let preceded_by_name = rest[..start].chars().next_back().is_some_and(is_name_char);
            let after = &rest[start + "docs/".len()..];
            rest = after;
            if preceded_by_name {
                continue;
            }
            let name: String = after.chars().take_while(|&c| is_name_char(c)).collect();
            let Some(tail) = after[name.len()..].strip_prefix(".md") else {
                continue;
            };
            let anchor: Option<String> = tail
                .strip_prefix('#')
                .map(|tail| tail.chars().take_while(|&c| is_anchor_char(c)).collect());
            if name.is_empty() || anchor.as_deref() == Some("") {
                // A pattern such as `docs/<page>.md#<heading>`, not a reference.
                continue;
            }
            found.push(Reference {
                at: format!("{file}:{}", number + 1),
                page: format!("docs/{name}.md"),
                anchor,
            });
        }
    }
    found
}

/// The relative links of a `docs/` page: `](page.md#anchor)`, `](#anchor)`, `](page.md)`.
fn relative_links(file: &str, text: &str) -> Vec<Reference> {
    let directory = Path::new(file).parent().unwrap_or(Path::new(""));
    let mut found = Vec::new();
    for (number, line) in text.lines().enumerate() {
        for (index, _) in line.match_indices("](") {
            let target: String = line[index + 2..]
                .chars()
                .take_while(|&c| c != ')' && c != ' ')
                .collect();
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (path, anchor) = match target.split_once('#') {
                Some((path, anchor)) => (path, Some(anchor.to_owned())),
                None => (target.as_str(), None),
            };
            let page = if path.is_empty() {
                file.to_owned()
            } else {
                normalise(&directory.join(path))
            };
            found.push(Reference {
                at: format!("{file}:{}", number + 1),
                page,
                anchor,
            });
        }
    }
    found
}

/// `docs/../ARCHITECTURE.md` → `ARCHITECTURE.md`.
fn normalise(path: &Path) -> String {
    let mut parts: Vec<String> = Vec::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                parts.pop();
            }
            std::path::Component::CurDir => {}
            other => parts.push(other.as_os_str().to_string_lossy().into_owned()),
        }
    }
    parts.join("/")
}

/// What is wrong with a reference, if anything.
fn problem(
    reference: &Reference,
    pages: &mut BTreeMap<String, Option<BTreeSet<String>>>,
) -> Option<String> {
    let anchors = pages.entry(reference.page.clone()).or_insert_with(|| {
        let text = fs::read_to_string(root().join(&reference.page)).ok()?;
        Some(anchors(&text))
    });
    let Some(anchors) = anchors else {
        return Some(format!(
            "{}: {} does not exist",
            reference.at, reference.page
        ));
    };
    match &reference.anchor {
        Some(anchor) if !anchors.contains(anchor) => Some(format!(
            "{}: {} has no heading whose anchor is #{anchor}",
            reference.at, reference.page
        )),
        _ => None,
    }
}

#[test]
fn every_docs_reference_names_an_existing_page_and_heading() {
    let mut pages = BTreeMap::new();
    let mut problems = Vec::new();
    let mut checked = 0;
    for (file, text) in scanned_files() {
        let mut references = docs_references(&file, &text);
        if file.starts_with("docs/") && file.ends_with(".md") {
            references.extend(relative_links(&file, &text));
        }
        for reference in references {
            checked += 1;
            problems.extend(problem(&reference, &mut pages));
        }
    }
    assert!(checked > 0, "no documentation reference was found at all");
    assert!(
        problems.is_empty(),
        "{} reference(s) do not resolve:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn anchors_are_derived_as_github_derives_them() {
    let page = "# Title\n## Order of checks\n## `auth_time` and freshness\n```\n## not a heading\n```\n## Order of checks\n## OAuth errors under oidc-idp\n";
    let found = anchors(page);
    for expected in [
        "title",
        "order-of-checks",
        "auth_time-and-freshness",
        "order-of-checks-1",
        "oauth-errors-under-oidc-idp",
    ] {
        assert!(
            found.contains(expected),
            "{expected} missing from {found:?}"
        );
    }
    assert!(!found.contains("not-a-heading"));
}

#[test]
fn references_are_found_in_code_comments_and_links() {
    let code = "/// Checked in order (docs/http-conventions.md#order-of-checks); see docs/login.md.\n\
                let path = \"mydocs/x.md#y\"; // cited as docs/<page>.md#<heading>, docs/decisions.md#<name>";
    let found = docs_references("src/x.rs", code);
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(found[0].page, "docs/http-conventions.md");
    assert_eq!(found[0].anchor.as_deref(), Some("order-of-checks"));
    assert_eq!(found[1].page, "docs/login.md");
    assert_eq!(found[1].anchor, None);

    let page = "See [login](login.md#throttling), [here](#domain-model), [map](../ARCHITECTURE.md) and [web](https://example.com/a.md#b).";
    let links = relative_links("docs/README.md", page);
    let pages: Vec<(&str, Option<&str>)> = links
        .iter()
        .map(|link| (link.page.as_str(), link.anchor.as_deref()))
        .collect();
    assert_eq!(
        pages,
        [
            ("docs/login.md", Some("throttling")),
            ("docs/README.md", Some("domain-model")),
            ("ARCHITECTURE.md", None),
        ]
    );
}

/// The comment text of a line, by the file's comment syntax; Markdown is all prose.
fn comment_of<'a>(file: &str, line: &'a str) -> Option<&'a str> {
    let marker = match file.rsplit_once('.').map(|(_, extension)| extension) {
        Some("md") => return Some(line),
        Some("rs" | "mjs" | "js") => "//",
        Some("sql") => "--",
        _ => "#",
    };
    line.find(marker).map(|start| &line[start..])
}

/// Citations of the API specification the code was first written from, which is not in the
/// repository: `§` before a digit (anywhere), or a decision number such as `D8` or `D17b`
/// standing alone in a comment or a document.
fn spec_citations(file: &str, text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let at = || format!("{file}:{}: {}", number + 1, line.trim());
        let chars: Vec<char> = line.chars().collect();
        if chars
            .windows(2)
            .any(|pair| pair[0] == '§' && pair[1].is_ascii_digit())
        {
            found.push(at());
            continue;
        }
        let Some(comment) = comment_of(file, line) else {
            continue;
        };
        let chars: Vec<char> = comment.chars().collect();
        let standalone_decision = (0..chars.len()).any(|start| {
            let before_is_word = start > 0 && is_word(chars[start - 1]);
            if chars[start] != 'D' || before_is_word {
                return false;
            }
            let digits = chars[start + 1..]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count();
            let mut end = start + 1 + digits;
            if chars.get(end).is_some_and(|c| c.is_ascii_lowercase()) {
                end += 1;
            }
            digits > 0 && !chars.get(end).is_some_and(|&c| is_word(c))
        });
        if standalone_decision {
            found.push(at());
        }
    }
    found
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The section numbers that `docs/README.md` maps for the applied migrations, which cannot be
/// edited: the first cells of its table.
fn mapped_legacy_citations(index: &str) -> BTreeSet<String> {
    let mut mapped = BTreeSet::new();
    for line in index.lines() {
        let Some(row) = line.strip_prefix("| ") else {
            continue;
        };
        let first = row.split(" |").next().unwrap_or("");
        if first.starts_with('§') || first.starts_with('D') {
            mapped.extend(first.split(", ").map(str::to_owned));
        }
    }
    mapped
}

/// Splits `§19–§21`, `(§5.4)` or `D8b` out of a line into the citations it names.
fn citation_tokens(line: &str) -> Vec<String> {
    line.split(|c: char| !(c == '§' || c == '.' || c.is_alphanumeric()))
        .map(|token| token.trim_end_matches('.'))
        .filter(|token| {
            let mut chars = token.chars();
            match chars.next() {
                Some('§') => chars.next().is_some_and(|c| c.is_ascii_digit()),
                Some('D') => {
                    let rest: Vec<char> = chars.collect();
                    let digits = rest.iter().take_while(|c| c.is_ascii_digit()).count();
                    digits > 0
                        && rest[digits..].iter().all(char::is_ascii_lowercase)
                        && rest.len() <= digits + 1
                }
                _ => false,
            }
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn no_comment_or_document_cites_the_unpublished_specification() {
    let mut citations = Vec::new();
    for (file, text) in scanned_files() {
        // Applied migrations cannot change (see the next test); this file's examples are cited
        // on purpose.
        if file.starts_with("migrations/") || file == "tests/doc_references.rs" {
            continue;
        }
        let text: String = if file == "docs/README.md" {
            // The table that maps the citations frozen in applied migrations.
            text.lines()
                .filter(|line| !(line.starts_with("| §") || line.starts_with("| D")))
                .collect::<Vec<_>>()
                .join("\n")
        } else {
            text
        };
        citations.extend(spec_citations(&file, &text));
    }
    assert!(
        citations.is_empty(),
        "{} line(s) cite the API specification, which is not in the repository; cite a docs/ \
         page instead (docs/<page>.md#<heading>) or say it in words:\n{}",
        citations.len(),
        citations.join("\n")
    );
}

#[test]
fn section_numbers_frozen_in_applied_migrations_are_mapped_in_the_docs_index() {
    let index = fs::read_to_string(root().join("docs/README.md")).unwrap_or_default();
    let mapped = mapped_legacy_citations(&index);
    let mut unmapped = Vec::new();
    let mut checked = 0;
    for (file, text) in scanned_files() {
        if !file.starts_with("migrations/") {
            continue;
        }
        for (number, line) in text.lines().enumerate() {
            let Some(comment) = comment_of(&file, line) else {
                continue;
            };
            for citation in citation_tokens(comment) {
                checked += 1;
                if !mapped.contains(&citation) {
                    unmapped.push(format!("{file}:{}: {citation}", number + 1));
                }
            }
        }
    }
    assert!(checked > 0, "no citation found in the migrations at all");
    assert!(
        unmapped.is_empty(),
        "citations in migrations missing from the table in docs/README.md:\n{}",
        unmapped.join("\n")
    );
}

#[test]
fn specification_citations_are_told_apart_from_ordinary_text() {
    let code = "/// Checked in order (§4.10).\n\
                let colour = 0xD3; // D3 is the red channel\n\
                /// Revokes tokens (D8b).\n\
                let key = \"D17\"; // a string, not a comment: ignored\n\
                /// RFC 6749 section 2.3.1; HD1080 and D-Bus are fine.\n";
    let found = spec_citations("src/x.rs", code);
    assert_eq!(found.len(), 3, "{found:?}");
    assert!(found[0].starts_with("src/x.rs:1:"));
    assert!(found[1].starts_with("src/x.rs:2:"));
    assert!(found[2].starts_with("src/x.rs:3:"));
    assert_eq!(
        citation_tokens("-- OpenID Connect login (§19–§21), see §21.2 step 5 and (D8b)."),
        ["§19", "§21", "§21.2", "D8b"]
    );
}
