//! `--trace out.json` and `--timeline out.svg`, shared by `run`, `process` and `bench`:
//! checked before any work starts, written atomically (temporary file, then rename) after.

use std::path::{Path, PathBuf};

use riptide_host::trace::{Trace, Tracer, chrome, svg};
use riptide_host::{Device, Error, Result};

/// Where to write a run's trace and timeline, if anywhere.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TraceOutputs {
    /// Chrome trace JSON (opens in Perfetto).
    pub trace: Option<PathBuf>,
    /// SVG timeline.
    pub timeline: Option<PathBuf>,
}

impl TraceOutputs {
    /// Whether any output was asked for.
    pub fn wanted(&self) -> bool {
        self.trace.is_some() || self.timeline.is_some()
    }

    /// Checks the paths can be written: not a directory, the parent directory exists, and
    /// the two outputs are different files.
    pub fn validate(&self) -> Result<()> {
        for (flag, path) in [("--trace", &self.trace), ("--timeline", &self.timeline)] {
            let Some(path) = path else { continue };
            let file = |message: &str| Error::File {
                path: path.display().to_string(),
                message: format!("{flag}: {message}"),
            };
            if path.as_os_str().is_empty() || path.is_dir() {
                return Err(file("is a directory, not a file"));
            }
            let parent = parent_of(path);
            if !parent.is_dir() {
                return Err(file("its directory does not exist"));
            }
        }
        if self.trace.is_some() && self.trace == self.timeline {
            return Err(Error::InvalidArgument(
                "--trace and --timeline name the same file".into(),
            ));
        }
        Ok(())
    }

    /// A tracer attached to `device` when outputs are wanted, with the traced handle.
    pub fn attach(&self, device: &Device) -> Result<Option<(Tracer, Device)>> {
        if !self.wanted() {
            return Ok(None);
        }
        let tracer = Tracer::new();
        let traced = tracer.attach(device)?;
        Ok(Some((tracer, traced)))
    }

    /// Writes the requested files and says where they went.
    pub fn write(&self, trace: &Trace, title: &str) -> Result<()> {
        if let Some(path) = &self.trace {
            write_atomic(path, chrome::to_string(trace).as_bytes())?;
            eprintln!(
                "trace: {} ({} ops; open in https://ui.perfetto.dev)",
                path.display(),
                trace.ops.len()
            );
        }
        if let Some(path) = &self.timeline {
            write_atomic(path, svg::render(trace, title).as_bytes())?;
            eprintln!("timeline: {}", path.display());
        }
        Ok(())
    }
}

fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Writes `bytes` to a temporary file beside `path`, then renames it over `path`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let tmp = parent_of(path).join(format!(".{name}.{}.tmp", std::process::id()));
    let fail = |e: std::io::Error| Error::File {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    std::fs::write(&tmp, bytes).map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        fail(e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_paths_are_refused_before_work() {
        let dir = std::env::temp_dir();
        let ok = TraceOutputs {
            trace: Some(dir.join("riptide-ok.json")),
            timeline: None,
        };
        assert!(ok.validate().is_ok());
        let missing = TraceOutputs {
            trace: None,
            timeline: Some(dir.join("no-such-dir-riptide/x.svg")),
        };
        assert!(
            missing
                .validate()
                .unwrap_err()
                .to_string()
                .contains("directory does not exist")
        );
        let is_dir = TraceOutputs {
            trace: Some(dir.clone()),
            timeline: None,
        };
        assert!(
            is_dir
                .validate()
                .unwrap_err()
                .to_string()
                .contains("is a directory")
        );
        let same = TraceOutputs {
            trace: Some(dir.join("a")),
            timeline: Some(dir.join("a")),
        };
        assert!(same.validate().is_err());
        assert!(!TraceOutputs::default().wanted());
    }
}
