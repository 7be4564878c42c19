//! The committed fuzz corpus (`fuzz/corpus/`) as an ordinary test: every input the fuzzers
//! kept runs through the same target bodies (`riptide::cli::fuzzing`) on every `cargo test`,
//! so a regression on a once-interesting input fails without running the fuzzer. The seed
//! inputs are also checked to reach both outcomes (accepted and refused).

use std::path::Path;

use riptide::cli::fuzzing;
use riptide::cli::npy::NpyLayout;

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).expect("read corpus file"),
            )
        })
        .collect();
    files.sort();
    assert!(files.len() >= 5, "{target}: corpus missing");
    files
}

#[test]
fn npy_header_corpus_never_panics() {
    let files = corpus("npy_header");
    let mut accepted = 0;
    for (name, data) in &files {
        let caught = std::panic::catch_unwind(|| fuzzing::npy_header(data));
        assert!(caught.is_ok(), "npy_header panicked on {name}");
        accepted += NpyLayout::parse(data, data.len() as u64).is_ok() as usize;
    }
    assert!(
        accepted >= 1 && accepted < files.len(),
        "seeds reach both outcomes"
    );
}

#[test]
fn cli_plan_corpus_never_panics() {
    for (name, data) in corpus("cli_plan") {
        let caught = std::panic::catch_unwind(|| fuzzing::cli_plan(&data));
        assert!(caught.is_ok(), "cli_plan panicked on {name}");
    }
}

/// Found by fuzzing: a header of nested braces made the literal parser backtrack for
/// minutes (before the fix this test would not finish); it is refused up front now.
#[test]
fn a_header_of_nested_brackets_is_refused_quickly() {
    let (_, data) = corpus("npy_header")
        .into_iter()
        .find(|(name, _)| name == "nested-braces-hang")
        .expect("the regression input is in the corpus");
    let err = NpyLayout::parse(&data, data.len() as u64).unwrap_err();
    assert!(err.contains("nested"), "{err}");
}
