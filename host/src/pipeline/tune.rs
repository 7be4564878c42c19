//! Auto-tuning: pick chunk size, stream count and buffer depth from a short measurement,
//! cached per device and workload so later runs need no knobs.
//!
//! The tuner times the workload on a sample of the real run's size class through each
//! candidate configuration (device time, measured with events) and keeps the fastest. The
//! cache is a JSON file (`$RIPTIDE_TUNE_CACHE`, else `~/.cache/riptide/tune.json`) keyed by
//! device name, workload name, element size and whether the run is traced.
//!
//! A traced run is tuned traced: a timestamp after a device-to-host copy holds the link
//! for a few microseconds (docs/measurements.md, "Where tracing's cost comes from"), so the
//! fastest configuration with a tracer attached can differ from the fastest without (on an
//! H200, fewer device slots: the timestamps then fall where the download stream would have
//! waited anyway). Handing [`tune`] a traced device tunes with a tracer of its own attached
//! (the caller's recording is left alone).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::backend::Device;
use crate::element::Element;
use crate::error::Result;
use crate::pipeline::kernel::{ChunkKernel, ChunkOutput};
use crate::pipeline::{Pipeline, PipelineConfig};
use crate::trace::Tracer;

/// Environment variable overriding the tuning cache's path.
pub const TUNE_CACHE_ENV: &str = "RIPTIDE_TUNE_CACHE";

/// Timed runs per candidate after its warm-up; the fastest counts.
const TIMED_RUNS: usize = 2;

/// One measured candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    /// The configuration.
    pub config: PipelineConfig,
    /// Device milliseconds for the sample, the fastest of the timed runs.
    pub device_ms: f64,
}

/// The tuner's decision and what it measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tuned {
    /// The fastest configuration.
    pub best: PipelineConfig,
    /// Every candidate, in the order tried.
    pub trials: Vec<Trial>,
    /// Whether the result came from the cache.
    #[serde(skip)]
    pub cached: bool,
}

/// Candidate configurations for a run of `len` elements of `elem_bytes` bytes.
pub fn candidates(len: usize, elem_bytes: usize) -> Vec<PipelineConfig> {
    let mut out = Vec::new();
    // Chunks below 8 MiB leave too little copy time per chunk to hide the dozen driver
    // calls each chunk costs the host (measured on an H100: 4 MiB chunks tuned on a sample
    // reached 85% of the copy ceiling on 2 GiB, 8 MiB chunks 100%).
    for chunk_mib in [8usize, 16, 32, 64] {
        let chunk = (chunk_mib << 20) / elem_bytes;
        if chunk > len.max(1) && chunk_mib > 8 {
            continue;
        }
        // One stream at depth 3 is the fastest to trace on an H100 and an H200 (timestamps
        // after downloads cost least with few device slots; docs/measurements.md).
        for (streams, depth) in [(1, 2), (1, 3), (2, 2), (3, 1), (2, 3), (4, 2)] {
            out.push(PipelineConfig::new(chunk, streams, depth));
        }
    }
    out
}

fn cache_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(TUNE_CACHE_ENV) {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/riptide/tune.json"))
}

fn cache_key(device: &Device, kernel: &str, elem_bytes: usize, traced: bool) -> String {
    format!(
        "{} | {} | {}-byte elements{}",
        device.info().name,
        kernel,
        elem_bytes,
        if traced { " | traced" } else { "" }
    )
}

fn load_cache() -> BTreeMap<String, Tuned> {
    cache_path()
        .and_then(|p| std::fs::read(p).ok())
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

fn store_cache(map: &BTreeMap<String, Tuned>) {
    let Some(path) = cache_path() else { return };
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    // Written to a temporary file and renamed, so a crash never leaves half a cache.
    let tmp = path.with_extension("json.tmp");
    if let Ok(text) = serde_json::to_vec_pretty(map)
        && std::fs::write(&tmp, text).is_ok()
    {
        let _ = std::fs::rename(&tmp, &path);
    }
}

/// Tunes `kernel` on `device` with a sample of `sample_len` elements (at least one chunk of
/// every candidate size), or returns the cached result for this device and workload. When
/// `device` is traced, every trial runs traced (by a tracer of the tuner's own, its
/// recordings dropped after each trial), so the pick is the fastest configuration to trace.
pub fn tune<T: Element, K: ChunkKernel<T>>(
    device: &Device,
    kernel: &K,
    sample_len: usize,
    use_cache: bool,
) -> Result<Tuned> {
    tune_as(
        device,
        kernel,
        sample_len,
        use_cache,
        device.tracer.is_some(),
    )
}

/// [`tune`] for a run that will be traced, whether or not `device` is.
pub fn tune_traced<T: Element, K: ChunkKernel<T>>(
    device: &Device,
    kernel: &K,
    sample_len: usize,
    use_cache: bool,
) -> Result<Tuned> {
    tune_as(device, kernel, sample_len, use_cache, true)
}

fn tune_as<T: Element, K: ChunkKernel<T>>(
    device: &Device,
    kernel: &K,
    sample_len: usize,
    use_cache: bool,
    traced: bool,
) -> Result<Tuned> {
    let key = cache_key(device, &kernel.name(), size_of::<T>(), traced);
    if use_cache && let Some(mut hit) = load_cache().remove(&key) {
        hit.cached = true;
        return Ok(hit);
    }
    let mut plain = device.clone();
    plain.tracer = None;
    let tracer = traced.then(Tracer::new);
    let device = &match &tracer {
        Some(t) => t.attach(&plain)?,
        None => plain,
    };
    let granule = kernel.granule().max(1);
    let len = (sample_len / granule).max(1) * granule;
    let input = device.alloc_pinned::<T>(len, "tuning sample")?;
    let mut output = match kernel.output() {
        ChunkOutput::Accumulated => None,
        _ => Some(device.alloc_pinned::<T>(len, "tuning output")?),
    };
    let mut trials = Vec::new();
    for config in candidates(len, size_of::<T>()) {
        let mut config = config;
        config.chunk_elems = (config.chunk_elems / granule).max(1) * granule;
        let mut pipeline = Pipeline::new(device, config)?;
        // One warm-up, then the fastest of the timed runs (one run alone scatters by a few
        // percent, as much as the candidates differ).
        pipeline.run(kernel, &input, output.as_mut())?;
        let mut device_ms = f64::INFINITY;
        for _ in 0..TIMED_RUNS {
            device_ms = device_ms.min(pipeline.run(kernel, &input, output.as_mut())?.1.device_ms);
        }
        if let Some(t) = &tracer {
            t.take()?;
        }
        trials.push(Trial { config, device_ms });
    }
    let best = trials
        .iter()
        .min_by(|a, b| a.device_ms.total_cmp(&b.device_ms))
        .map(|t| t.config)
        .unwrap_or_else(|| PipelineConfig::new(len.max(1), 2, 2));
    let tuned = Tuned {
        best,
        trials,
        cached: false,
    };
    if use_cache {
        let mut map = load_cache();
        map.insert(key, tuned.clone());
        store_cache(&map);
    }
    Ok(tuned)
}
