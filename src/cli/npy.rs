//! NumPy `.npy` files: a validated, memory-mapped reader (so files larger than RAM stream
//! through) and a writer that fills a temporary file and renames it into place only when
//! the whole result is there.
//!
//! Accepted: C-order arrays of little-endian `f32`, `u32` or `i32` (`<f4`, `<u4`, `<i4`)
//! whose body holds exactly the elements the header's shape names. Everything else is an
//! error naming the file and the problem.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use memmap2::{Mmap, MmapMut};
use npyz::{DType, NpyHeader, Order, TypeStr, WriteOptions, WriterBuilder};
use riptide_host::{Element, Error, Result};

/// The element types `.npy` files may hold here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    /// `<f4`
    F32,
    /// `<u4`
    U32,
    /// `<i4`
    I32,
    /// `<u8` (results only: sums of u32)
    U64,
    /// `<i8` (results only: sums of i32)
    I64,
}

impl Dtype {
    fn descr(self) -> &'static str {
        match self {
            Dtype::F32 => "<f4",
            Dtype::U32 => "<u4",
            Dtype::I32 => "<i4",
            Dtype::U64 => "<u8",
            Dtype::I64 => "<i8",
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Dtype::F32 | Dtype::U32 | Dtype::I32 => 4,
            Dtype::U64 | Dtype::I64 => 8,
        }
    }
}

fn file_error(path: &Path, message: impl std::fmt::Display) -> Error {
    Error::File {
        path: path.display().to_string(),
        message: message.to_string(),
    }
}

/// A memory-mapped `.npy` input.
#[derive(Debug)]
pub struct NpyInput {
    path: PathBuf,
    map: Option<Mmap>,
    offset: usize,
    /// The array's shape.
    pub shape: Vec<usize>,
    /// Its element type.
    pub dtype: Dtype,
    /// Number of elements.
    pub len: usize,
}

impl NpyInput {
    /// Opens and validates `path`.
    pub fn open(path: &Path) -> Result<NpyInput> {
        let file = File::open(path).map_err(|e| file_error(path, format!("cannot open: {e}")))?;
        let file_len = file.metadata().map_err(|e| file_error(path, e))?.len();
        let offset = data_offset(path, &file)?;
        io::Seek::seek(&mut &file, io::SeekFrom::Start(0)).map_err(|e| file_error(path, e))?;
        let header = NpyHeader::from_reader(io::BufReader::new(&file))
            .map_err(|e| file_error(path, format!("not a valid .npy file: {e}")))?;
        let dtype = match header.dtype() {
            DType::Plain(t) => dtype_of(path, &t)?,
            other => {
                return Err(file_error(
                    path,
                    format!(
                        "unsupported dtype {}: only <f4, <u4 and <i4 arrays are accepted",
                        other.descr()
                    ),
                ));
            }
        };
        if header.order() == Order::Fortran {
            return Err(file_error(
                path,
                "Fortran-order arrays are not supported; save it in C order (np.ascontiguousarray)",
            ));
        }
        let shape: Vec<usize> = header
            .shape()
            .iter()
            .map(|&d| {
                usize::try_from(d)
                    .map_err(|_| file_error(path, "a dimension does not fit in memory addresses"))
            })
            .collect::<Result<_>>()?;
        let len = shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| file_error(path, format!("shape {shape:?} overflows")))?;
        let body = len
            .checked_mul(dtype.size())
            .and_then(|b| b.checked_add(offset))
            .ok_or_else(|| file_error(path, format!("shape {shape:?} overflows")))?
            as u64;
        if file_len != body {
            return Err(file_error(
                path,
                format!(
                    "the header says shape {shape:?} ({len} elements, {} bytes of data) but the file has {} bytes of data{}",
                    len * dtype.size(),
                    file_len.saturating_sub(offset as u64),
                    if file_len < body { " (truncated?)" } else { "" }
                ),
            ));
        }
        let map = if len == 0 {
            None
        } else {
            // SAFETY: the file is opened and mapped read-only and riptide never writes it.
            // Another process truncating it while mapped would fault this one (SIGBUS): the
            // documented risk of memory-mapping a file, accepted for inputs larger than RAM.
            let mapped = unsafe { Mmap::map(&file) };
            Some(mapped.map_err(|e| file_error(path, format!("cannot map: {e}")))?)
        };
        Ok(NpyInput {
            path: path.to_owned(),
            map,
            offset,
            shape,
            dtype,
            len,
        })
    }

    /// The elements, viewed as `T` (which must match the dtype's size).
    pub fn data<T: Element>(&self) -> Result<&[T]> {
        let Some(map) = &self.map else { return Ok(&[]) };
        let bytes = &map[self.offset..self.offset + self.len * self.dtype.size()];
        bytemuck::try_cast_slice(bytes).map_err(|e| {
            file_error(
                &self.path,
                format!("data is not an aligned array of {}: {e:?}", T::NAME),
            )
        })
    }
}

/// The byte offset of the data: magic (6) + version (2) + header length (2 or 4) + header.
fn data_offset(path: &Path, file: &File) -> Result<usize> {
    let mut prefix = [0u8; 12];
    let mut f = file;
    io::Seek::seek(&mut f, io::SeekFrom::Start(0)).map_err(|e| file_error(path, e))?;
    f.read_exact(&mut prefix)
        .map_err(|_| file_error(path, "too short to be a .npy file"))?;
    if &prefix[..6] != b"\x93NUMPY" {
        return Err(file_error(path, "wrong magic string: not a .npy file"));
    }
    match prefix[6] {
        1 => Ok(10 + u16::from_le_bytes([prefix[8], prefix[9]]) as usize),
        2 | 3 => {
            Ok(12 + u32::from_le_bytes([prefix[8], prefix[9], prefix[10], prefix[11]]) as usize)
        }
        v => Err(file_error(
            path,
            format!("unsupported .npy format version {v}"),
        )),
    }
}

fn dtype_of(path: &Path, t: &TypeStr) -> Result<Dtype> {
    match t.to_string().as_str() {
        "<f4" => Ok(Dtype::F32),
        "<u4" => Ok(Dtype::U32),
        "<i4" => Ok(Dtype::I32),
        other => Err(file_error(
            path,
            format!("unsupported dtype {other}: only <f4, <u4 and <i4 arrays are accepted"),
        )),
    }
}

/// A `.npy` output written into a temporary file beside its final path, renamed into place
/// by [`NpyOutput::commit`]; dropped without committing, it deletes the temporary file.
#[derive(Debug)]
pub struct NpyOutput {
    tmp: PathBuf,
    path: PathBuf,
    map: Option<MmapMut>,
    offset: usize,
    len: usize,
    dtype: Dtype,
    committed: bool,
}

impl NpyOutput {
    /// Creates the temporary file with the header for `shape` and room for the data.
    pub fn create(path: &Path, dtype: Dtype, shape: &[usize]) -> Result<NpyOutput> {
        let name = path
            .file_name()
            .ok_or_else(|| file_error(path, "not a file path"))?;
        let tmp = path.with_file_name(format!(
            ".{}.riptide-{}.tmp",
            name.to_string_lossy(),
            std::process::id()
        ));
        let mut file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| file_error(path, format!("cannot create the output: {e}")))?;
        crate::cli::cancel::register_temp(&tmp);
        let mut out = NpyOutput {
            tmp,
            path: path.to_owned(),
            map: None,
            offset: 0,
            len: 0,
            dtype,
            committed: false,
        };
        let descr: TypeStr = dtype
            .descr()
            .parse()
            .map_err(|e| file_error(path, format!("{e}")))?;
        let shape64: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
        WriteOptions::new_header_only()
            .dtype(DType::Plain(descr))
            .shape(&shape64)
            .writer(&mut file)
            .write_header_only()
            .map_err(|e| file_error(path, format!("writing the header: {e}")))?;
        file.flush().map_err(|e| file_error(path, e))?;
        out.offset = file.metadata().map_err(|e| file_error(path, e))?.len() as usize;
        out.len = shape.iter().product();
        let total = out.offset + out.len * dtype.size();
        file.set_len(total as u64)
            .map_err(|e| file_error(path, format!("cannot size the output: {e}")))?;
        if out.len > 0 {
            // SAFETY: the temporary file was just created by this process (create_new) and is
            // reached only through this mapping until it is renamed.
            out.map = Some(
                unsafe { MmapMut::map_mut(&file) }
                    .map_err(|e| file_error(path, format!("cannot map the output: {e}")))?,
            );
        }
        Ok(out)
    }

    /// The data region, viewed as `T`.
    pub fn data_mut<T: Element>(&mut self) -> Result<&mut [T]> {
        let (offset, bytes) = (self.offset, self.len * self.dtype.size());
        let path = self.path.clone();
        let Some(map) = &mut self.map else {
            return Ok(&mut []);
        };
        bytemuck::try_cast_slice_mut(&mut map[offset..offset + bytes]).map_err(|e| {
            file_error(
                &path,
                format!("output is not an aligned array of {}: {e:?}", T::NAME),
            )
        })
    }

    /// Flushes the data and renames the file into place.
    pub fn commit(mut self) -> Result<()> {
        if let Some(map) = &self.map {
            map.flush()
                .map_err(|e| file_error(&self.path, format!("writing the output: {e}")))?;
        }
        self.map = None;
        fs::rename(&self.tmp, &self.path).map_err(|e| {
            file_error(
                &self.path,
                format!("cannot move the output into place: {e}"),
            )
        })?;
        self.committed = true;
        crate::cli::cancel::unregister_temp(&self.tmp);
        Ok(())
    }
}

impl Drop for NpyOutput {
    fn drop(&mut self) {
        if !self.committed {
            self.map = None;
            let _ = fs::remove_file(&self.tmp);
            crate::cli::cancel::unregister_temp(&self.tmp);
        }
    }
}
