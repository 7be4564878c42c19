//! The tuner on the cpu backend: a traced device is tuned traced, under a cache key of its
//! own, by a tracer of the tuner's own (the caller's recording stays empty). One test in
//! this binary, because it points the tuning cache at a file through the environment.

mod common;

use riptide::host::Result;
use riptide::host::kernels::MapChain;
use riptide::host::pipeline::tune::{TUNE_CACHE_ENV, Tuned, tune, tune_traced};
use riptide::host::pipeline::workloads::{Elementwise, MapStep};
use riptide::host::trace::Tracer;

const SAMPLE: usize = 1 << 16;

fn fastest_trial(t: &Tuned) -> f64 {
    t.trials
        .iter()
        .map(|trial| trial.device_ms)
        .fold(f64::INFINITY, f64::min)
}

#[test]
fn a_traced_device_is_tuned_traced_under_its_own_cache_key() -> Result<()> {
    let dir = std::env::temp_dir().join(format!("riptide-tune-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    let cache = dir.join("tune.json");
    // SAFETY: this test binary has this one test, so no other thread reads the environment.
    unsafe { std::env::set_var(TUNE_CACHE_ENV, &cache) };
    let kernel = Elementwise(vec![MapStep::Chain(MapChain {
        scale: 0.5,
        offset: 0.25,
        lo: -4.0,
        hi: 4.0,
    })]);
    let dev = common::cpu_device();

    let plain = tune(&dev, &kernel, SAMPLE, true)?;
    assert!(!plain.cached && !plain.trials.is_empty());
    let tracer = Tracer::new();
    let traced_dev = tracer.attach(&dev)?;
    let traced = tune(&traced_dev, &kernel, SAMPLE, true)?;
    assert!(
        !traced.cached,
        "a traced run must not take the untraced pick from the cache"
    );
    assert_eq!(traced.trials.len(), plain.trials.len());
    let best = traced.trials.iter().find(|t| t.config == traced.best);
    assert_eq!(
        best.map(|t| t.device_ms),
        Some(fastest_trial(&traced)),
        "the pick is the fastest traced trial"
    );
    assert!(
        tracer.take()?.ops.is_empty(),
        "the tuner's trials are not in the caller's trace"
    );

    let text = std::fs::read_to_string(&cache).expect("the cache was written");
    let map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&text).expect("the cache parses");
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(!keys[0].ends_with("| traced") && keys[1] == &format!("{} | traced", keys[0]));

    let again = tune(&traced_dev, &kernel, SAMPLE, true)?;
    assert!(again.cached && again.best == traced.best);
    // Asking for a traced tune on an untraced handle finds the same entry.
    let asked = tune_traced(&dev, &kernel, SAMPLE, true)?;
    assert!(asked.cached && asked.best == traced.best);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
