//! The crate's layering, checked on its source: SQL lives in `src/store/`
//! only, and the top-level modules depend on one another without a cycle.
//! (That the store imports nothing above the domain and the settings is
//! `store::tests`'.) Plain text scans, cheap enough to run with every test.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("a source directory is readable") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// A line's code, without its comment (doc comments and links included).
fn code(line: &str) -> &str {
    line.split("//").next().unwrap_or_default()
}

/// What runs SQL: sqlx's query functions and macros, a built
/// `QueryBuilder`, raw SQL. Spelled in pieces so that this file's own text
/// passes.
const QUERY_SITES: [&str; 7] = [
    concat!("sqlx::", "query"),
    concat!("query", "_as"),
    concat!("query", "_scalar"),
    concat!("build", "_query"),
    concat!("build()", ".execute"),
    concat!("build()", ".fetch"),
    concat!("raw", "_sql"),
];

#[test]
fn sql_lives_only_in_the_store() {
    let root = src();
    let store = root.join("store");
    let mut sites: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for path in rust_files(&root) {
        if path.starts_with(&store) {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("a source file is readable");
        let name = path.strip_prefix(&root).expect("under src").to_string_lossy().replace('\\', "/");
        for (n, line) in text.lines().enumerate() {
            if QUERY_SITES.iter().any(|site| code(line).contains(site)) {
                sites.entry(name.clone()).or_default().push(format!("src/{name}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    let outside: Vec<String> = sites.into_values().flatten().collect();
    assert!(
        outside.is_empty(),
        "SQL outside src/store/ (give the area a store function and call it):\n{}",
        outside.join("\n")
    );
}

/// Proof of reach (`Reached`) is made in one place: the store's reach
/// check, after the database answered. Anywhere else a handler could name a
/// resident it never asked about.
#[test]
fn proof_of_reach_is_made_only_by_the_reach_check() {
    let root = src();
    let allowed = ["domain/scope.rs", "store/residents.rs"];
    let minted = concat!("Reached", "::vouched");
    let mut found = Vec::new();
    for path in rust_files(&root) {
        let name = path.strip_prefix(&root).expect("under src").to_string_lossy().replace('\\', "/");
        let text = std::fs::read_to_string(&path).expect("a source file is readable");
        for (n, line) in text.lines().enumerate() {
            if code(line).contains(minted) && !allowed.contains(&name.as_str()) {
                found.push(format!("src/{name}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(found.is_empty(), "proof of reach made outside the reach check:\n{}", found.join("\n"));
    let reach_check = std::fs::read_to_string(root.join("store/residents.rs")).expect("readable");
    assert_eq!(reach_check.matches(minted).count(), 1, "store::residents::reach makes the proof, once");
}

/// The platform's own proofs (`Reached::for_the_platform`,
/// `Served::for_the_platform`, for the alarm path and the scheduled jobs)
/// are never a handler's: a request reaches a resident through the reach
/// check only, and its own institution is its scope's.
#[test]
fn no_handler_acts_as_the_platform() {
    let root = src();
    let api = root.join("api");
    let minted = concat!("for_the", "_platform");
    let mut found = Vec::new();
    for path in rust_files(&api) {
        let name = path.strip_prefix(&root).expect("under src").to_string_lossy().replace('\\', "/");
        let text = std::fs::read_to_string(&path).expect("a source file is readable");
        for (n, line) in text.lines().enumerate() {
            if code(line).contains(minted) {
                found.push(format!("src/{name}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(found.is_empty(), "the platform's proof of reach made in a handler:\n{}", found.join("\n"));
}

/// The store functions that still take a bare resident or institution id
/// (a parameter `resident`, `resident_id`, `institution` or
/// `institution_id` of type `Uuid`) rather than proof of reach: the list
/// may only shrink. A new store function taking one fails the test; so does
/// a function of the list that no longer takes one and was not struck off.
const BARE_ID_TAKERS: &[&str] = &[
    // Logs a read of a resident wherever it was reached: by the reach check, a visit or an alert.
    "access_log::record",
    // The audit chain of whoever acted (an institution, or the platform: None), one for every caller.
    "audit::lock_chain",
    // The same chain's last hash, read under that lock.
    "audit::last_hash",
    // A chain's entries, for `crate::audit::list` (its callers name the chain, the platform's too).
    "audit::list",
    // A chain from its start, for verification, the platform's included.
    "audit::chain",
    // A caregiver reaches the resident's door through their assigned visit, not the reach check.
    "care::has_tag",
    // The institution the bureau names to assess an application: asked whether it is an assessment body.
    "applications::is_assessment_body",
    // The institution a bureau names to enrol an elder into: asked of the bureau's division here.
    "enrolments::institution_in_division",
    // Registration's `already_registered` answer: the claim that comes before any reach.
    "enrolments::claim",
    // Enrolment takes that claim: the resident is not yet in the institution's reach.
    "enrolments::take_claim",
    // A kitchen reaches the resident through the meal order it delivers, not the reach check.
    "meals::resident_timezone",
    // Pure: the name an erased resident is given; no query.
    "records::pseudonym",
    // The price an offered provider would charge her: its catalogue, her entitlements (reached).
    "billing::quote",
    // A care home's short-stay beds, free and booked: a directory's figures, naming no elder.
    "respite::availability",
    // The same beds locked for a booking, whose elder the booking side reached.
    "respite::first_full_day",
    // The reach check itself, for a row already in hand.
    "residents::reaches",
    // Whether a provider is in the bureau's division: the scope's own filter, asked of one institution.
    "inspections::in_division",
    // An inspection of a provider the handler found in the bureau's division first (in_division).
    "inspections::insert",
    // Inspections of one institution, within the scope's filter in the same query.
    "inspections::list",
    // The key safe code, for the carer of the visit: reached through the visit.
    "responder::key_safe_code",
];

/// The public store functions taking a bare resident or institution id.
fn bare_id_takers(root: &Path) -> BTreeSet<String> {
    let store = root.join("store");
    let mut found = BTreeSet::new();
    for path in rust_files(&store) {
        let module = path.strip_prefix(&store).expect("under store").with_extension("");
        let module = module.to_string_lossy().replace(['/', '\\'], "::");
        let text = std::fs::read_to_string(&path).expect("a source file is readable");
        for signature in text.split("pub ").skip(1) {
            let signature = signature.strip_prefix("async ").unwrap_or(signature);
            let Some(rest) = signature.strip_prefix("fn ") else { continue };
            let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            let Some(params) = rest.split_once('(').and_then(|(_, p)| p.split_once(')')).map(|(p, _)| p) else {
                continue;
            };
            let bare = params.split(',').any(|param| {
                let Some((name, ty)) = param.split_once(':') else { return false };
                let ty = ty.trim();
                ["resident", "resident_id", "institution", "institution_id"].contains(&name.trim())
                    && (ty == "Uuid" || ty == "Option<Uuid>")
            });
            if bare {
                found.insert(format!("{module}::{name}"));
            }
        }
    }
    found
}

#[test]
fn no_new_store_function_takes_a_bare_resident_or_institution_id() {
    let found = bare_id_takers(&src());
    let listed: BTreeSet<String> = BARE_ID_TAKERS.iter().map(|s| (*s).to_owned()).collect();
    let new: Vec<&String> = found.difference(&listed).collect();
    assert!(new.is_empty(), "store functions taking a bare id: take Reached<Area> (domain::scope) instead: {new:?}");
    let gone: Vec<&String> = listed.difference(&found).collect();
    assert!(gone.is_empty(), "no longer take a bare id: strike them off BARE_ID_TAKERS: {gone:?}");
}

/// The name each `ToSchema` type (and each `names!` vocabulary) gives its
/// schema in the API document, with where it is defined. utoipa lets a later
/// schema of a name replace an earlier one without a word, so two types of
/// one name would document one of them wrongly.
fn schema_names(root: &Path) -> BTreeMap<String, Vec<String>> {
    let mut names: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let crates = root.parent().expect("the workspace").join("crates");
    for path in rust_files(root).into_iter().chain(rust_files(&crates)) {
        let text = std::fs::read_to_string(&path).expect("a source file is readable");
        let lines: Vec<&str> = text.lines().map(code).collect();
        let at = |n: usize| format!("{}:{}", path.display(), n + 1);
        for (n, line) in lines.iter().enumerate() {
            let derives = line.contains("derive(") && line.contains("ToSchema");
            let vocabulary = line.trim_start().starts_with("names!(");
            if !(derives || vocabulary) {
                continue;
            }
            let mut alias = None;
            for next in lines.iter().skip(n + 1).take(15) {
                let next = next.trim();
                if let Some(rest) = next.strip_prefix("#[schema(").and_then(|r| r.split("as = ").nth(1)) {
                    alias = Some(rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect::<String>());
                }
                let item = next.trim_start_matches("pub(crate) ").trim_start_matches("pub(super) ");
                let item = item.trim_start_matches("pub ");
                let name = if derives {
                    item.strip_prefix("struct ").or_else(|| item.strip_prefix("enum "))
                } else {
                    // The vocabulary's name, on its first line of code.
                    (!item.is_empty() && !item.starts_with('#') && item.contains('{')).then_some(item)
                };
                if let Some(name) = name {
                    let name: String = name.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                    names.entry(alias.unwrap_or(name)).or_default().push(at(n));
                    break;
                }
            }
        }
    }
    names
}

#[test]
fn every_schema_of_the_document_has_a_name_of_its_own() {
    let names = schema_names(&src());
    assert!(names.contains_key("CareService") && names.contains_key("Service"), "the scan reads both kinds");
    let shared: Vec<(&String, &Vec<String>)> = names.iter().filter(|(_, places)| places.len() > 1).collect();
    assert!(shared.is_empty(), "one schema name, several types (give one `#[schema(as = ...)]`): {shared:?}");
}

/// The top-level modules of `src/` (files and directories, not `lib.rs`
/// and `main.rs`).
fn top_level_modules(root: &Path) -> BTreeSet<String> {
    let mut modules = BTreeSet::new();
    for entry in std::fs::read_dir(root).expect("src is readable") {
        let path = entry.expect("a directory entry").path();
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else { continue };
        if path.is_dir() || (path.extension().is_some_and(|e| e == "rs") && stem != "lib" && stem != "main") {
            modules.insert(stem.to_owned());
        }
    }
    modules
}

/// The modules a line names by `crate::x` or `crate::{x, y::z}`.
fn named_modules(line: &str) -> Vec<String> {
    let ident = |s: &str| s.trim_start().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect::<String>();
    let mut names = Vec::new();
    for (at, _) in line.match_indices("crate::") {
        let rest = &line[at + "crate::".len()..];
        match rest.strip_prefix('{') {
            Some(group) => {
                // The first segment of each item at the group's top level.
                let mut depth = 0;
                let mut start = true;
                for (i, c) in group.char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => start = true,
                        _ if start && !c.is_whitespace() => {
                            names.push(ident(&group[i..]));
                            start = false;
                        }
                        _ => {}
                    }
                }
            }
            None => names.push(ident(rest)),
        }
    }
    names
}

/// Which top-level module uses which, by the `crate::` paths in their code.
fn module_graph(root: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let modules = top_level_modules(root);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for module in &modules {
        let dir = root.join(module);
        let mut files = if dir.is_dir() { rust_files(&dir) } else { Vec::new() };
        let file = root.join(format!("{module}.rs"));
        if file.is_file() {
            files.push(file);
        }
        let uses = graph.entry(module.clone()).or_default();
        for path in files {
            let text = std::fs::read_to_string(&path).expect("a source file is readable");
            for line in text.lines() {
                for name in named_modules(code(line)) {
                    if name != *module && modules.contains(&name) {
                        uses.insert(name);
                    }
                }
            }
        }
    }
    graph
}

/// A cycle of the graph, if it has one.
fn cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        done: &mut BTreeSet<String>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, done, path) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|node| visit(node, graph, &mut done, &mut Vec::new()))
}

#[test]
fn the_top_level_modules_have_no_cycle() {
    let graph = module_graph(&src());
    assert!(graph.contains_key("store") && graph["store"].contains("domain"), "the scan sees the store's imports");
    if let Some(cycle) = cycle(&graph) {
        panic!("a module cycle: {}", cycle.join(" -> "));
    }
}

#[test]
fn a_cycle_is_found_and_grouped_imports_are_read() {
    assert_eq!(named_modules("use crate::{alerts::{self, Subject}, domain, store::x};"), ["alerts", "domain", "store"]);
    assert_eq!(named_modules("let a = crate::store::ping(&pool);"), ["store"]);
    let edges = |pairs: &[(&str, &str)]| {
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (a, b) in pairs {
            graph.entry((*a).to_owned()).or_default().insert((*b).to_owned());
            graph.entry((*b).to_owned()).or_default();
        }
        graph
    };
    assert_eq!(cycle(&edges(&[("api", "store"), ("store", "domain"), ("api", "domain")])), None);
    let found = cycle(&edges(&[("config", "retention"), ("retention", "store"), ("store", "config")]));
    assert_eq!(found.map(|c| c.len()), Some(4));
}
