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

/// The longest header accepted; NumPy itself writes headers of a few hundred bytes.
const MAX_HEADER_BYTES: usize = 1 << 20;

/// What a `.npy` header says, validated against the file's length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NpyLayout {
    /// Byte offset of the data.
    pub offset: usize,
    /// The array's shape.
    pub shape: Vec<usize>,
    /// Its element type.
    pub dtype: Dtype,
    /// Number of elements.
    pub len: usize,
}

impl NpyLayout {
    /// The total header length (magic, version, length field and header text) from the
    /// file's first 12 bytes (or fewer, if the file is shorter).
    pub fn header_len(prefix: &[u8]) -> std::result::Result<usize, String> {
        if prefix.len() < 10 {
            return Err("too short to be a .npy file".into());
        }
        if &prefix[..6] != b"\x93NUMPY" {
            return Err("wrong magic string: not a .npy file".into());
        }
        let len = match prefix[6] {
            1 => 10 + u16::from_le_bytes([prefix[8], prefix[9]]) as usize,
            2 | 3 if prefix.len() >= 12 => {
                12 + u32::from_le_bytes([prefix[8], prefix[9], prefix[10], prefix[11]]) as usize
            }
            2 | 3 => return Err("too short to be a .npy file".into()),
            v => return Err(format!("unsupported .npy format version {v}")),
        };
        if len > MAX_HEADER_BYTES {
            return Err(format!(
                "the header claims {len} bytes (more than {MAX_HEADER_BYTES}): not a .npy file"
            ));
        }
        Ok(len)
    }

    /// Validates a header. `head` holds at least the file's first
    /// [`NpyLayout::header_len`] bytes; `file_len` is the whole file's length, which must
    /// be exactly the header plus the data the shape names.
    pub fn parse(head: &[u8], file_len: u64) -> std::result::Result<NpyLayout, String> {
        let offset = Self::header_len(&head[..head.len().min(12)])?;
        if head.len() < offset || file_len < offset as u64 {
            return Err(format!(
                "the header claims {offset} bytes but the file has {file_len} (truncated?)"
            ));
        }
        if let Some(problem) = not_flat(&head[..offset]) {
            return Err(problem);
        }
        if shape_overflows(&head[..offset]) {
            return Err("the shape's element count overflows 64 bits".into());
        }
        let header = NpyHeader::from_reader(&head[..offset])
            .map_err(|e| format!("not a valid .npy file: {e}"))?;
        let dtype = match header.dtype() {
            DType::Plain(t) => dtype_of(&t)?,
            other => {
                return Err(format!(
                    "unsupported dtype {}: only <f4, <u4 and <i4 arrays are accepted",
                    other.descr()
                ));
            }
        };
        if header.order() == Order::Fortran {
            return Err(
                "Fortran-order arrays are not supported; save it in C order (np.ascontiguousarray)"
                    .into(),
            );
        }
        let shape: Vec<usize> = header
            .shape()
            .iter()
            .map(|&d| {
                usize::try_from(d)
                    .map_err(|_| "a dimension does not fit in memory addresses".to_owned())
            })
            .collect::<std::result::Result<_, _>>()?;
        let overflow = || format!("shape {shape:?} overflows");
        let len = shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .ok_or_else(overflow)?;
        let data_bytes = len.checked_mul(dtype.size()).ok_or_else(overflow)?;
        let body = data_bytes.checked_add(offset).ok_or_else(overflow)? as u64;
        if file_len != body {
            return Err(format!(
                "the header says shape {shape:?} ({len} elements, {data_bytes} bytes of data) but the file has {} bytes of data{}",
                file_len.saturating_sub(offset as u64),
                if file_len < body { " (truncated?)" } else { "" }
            ));
        }
        Ok(NpyLayout {
            offset,
            shape,
            dtype,
            len,
        })
    }
}

impl NpyInput {
    /// Opens and validates `path`.
    pub fn open(path: &Path) -> Result<NpyInput> {
        let file = File::open(path).map_err(|e| file_error(path, format!("cannot open: {e}")))?;
        let file_len = file.metadata().map_err(|e| file_error(path, e))?.len();
        let mut prefix = Vec::with_capacity(12);
        (&file)
            .take(12)
            .read_to_end(&mut prefix)
            .map_err(|e| file_error(path, e))?;
        let header_len = NpyLayout::header_len(&prefix).map_err(|m| file_error(path, m))?;
        let mut head = Vec::with_capacity(header_len);
        io::Seek::seek(&mut &file, io::SeekFrom::Start(0)).map_err(|e| file_error(path, e))?;
        (&file)
            .take(header_len as u64)
            .read_to_end(&mut head)
            .map_err(|e| file_error(path, e))?;
        let NpyLayout {
            offset,
            shape,
            dtype,
            len,
        } = NpyLayout::parse(&head, file_len).map_err(|m| file_error(path, m))?;
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

/// Whether the header's `'shape': (…)` multiplies out beyond `u64`. The header parser
/// (npyz) multiplies the dimensions unchecked, which panics in debug builds, so such a
/// header is refused before it gets there.
/// A plain array's header is one flat dict holding at most one tuple (the shape):
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }`. Anything nested deeper —
/// structured dtypes (lists), nested dicts — is refused before the literal parser sees it:
/// that parser backtracks exponentially on nested brackets, so a 160-byte header of nested
/// braces would otherwise hang the reader (found by fuzzing).
fn not_flat(header: &[u8]) -> Option<String> {
    let (mut depth, mut max_depth, mut dicts, mut quote) = (0usize, 0usize, 0usize, None);
    for &b in header {
        match (quote, b) {
            (Some(q), _) if b == q => quote = None,
            (Some(_), _) => {}
            (None, b'\'' | b'"') => quote = Some(b),
            (None, b'{' | b'(' | b'[') => {
                dicts += usize::from(b == b'{');
                depth += 1;
                max_depth = max_depth.max(depth);
            }
            (None, b'}' | b')' | b']') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    if dicts > 1 || max_depth > 2 {
        return Some(
            "not a plain array's header (nested dicts, lists or tuples: structured dtypes are not supported)"
                .into(),
        );
    }
    None
}

fn shape_overflows(header: &[u8]) -> bool {
    let text = String::from_utf8_lossy(header);
    let Some(at) = text.find("'shape'") else {
        return false;
    };
    let rest = &text[at..];
    let (Some(open), Some(close)) = (rest.find('('), rest.find(')')) else {
        return false;
    };
    if close < open {
        return false;
    }
    rest[open + 1..close]
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .try_fold(1u64, |acc, d| {
            match d.trim_end_matches('L').parse::<u64>() {
                Ok(v) => acc.checked_mul(v),
                Err(_) => Some(acc),
            }
        })
        .is_none()
}

fn dtype_of(t: &TypeStr) -> std::result::Result<Dtype, String> {
    match t.to_string().as_str() {
        "<f4" => Ok(Dtype::F32),
        "<u4" => Ok(Dtype::U32),
        "<i4" => Ok(Dtype::I32),
        other => Err(format!(
            "unsupported dtype {other}: only <f4, <u4 and <i4 arrays are accepted"
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
        let too_large = || file_error(path, format!("an output of shape {shape:?} is too large"));
        out.len = shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .ok_or_else(too_large)?;
        let total = out
            .len
            .checked_mul(dtype.size())
            .and_then(|b| b.checked_add(out.offset))
            .and_then(|b| isize::try_from(b).ok())
            .ok_or_else(too_large)?;
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
