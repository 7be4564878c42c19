//! Reading a PTX module's interface: its kernel entries with their parameter lists, and the
//! functions it calls without defining them.
//!
//! The parser reads only module-level declarations (`.entry` headers and `.func`
//! declarations), which is all the build's checks and the host's load-time signature checks
//! need; instruction bodies are skipped.

/// One parameter of a kernel entry, as the PTX declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamInfo {
    /// The parameter's name in the PTX (`k_param_0`).
    pub name: String,
    /// The PTX type: `u64`, `f32`, `b8`, …; for a byte array (a struct passed by value) the
    /// element type, `b8`.
    pub ty: String,
    /// Size in bytes (a byte array's length for a struct parameter).
    pub size: usize,
    /// Alignment in bytes: the `.align` given, else the size of the scalar type.
    pub align: usize,
    /// Whether the PTX marks the parameter as a pointer (`.ptr`; LLVM marks every pointer
    /// argument of a kernel this way, nvcc marks none).
    pub pointer: bool,
}

/// One kernel entry point (`.entry`) of a PTX module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryInfo {
    /// The entry's name (the symbol a host resolves).
    pub name: String,
    /// The parameters, in order.
    pub params: Vec<ParamInfo>,
}

/// Why a PTX module's interface could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PtxParseError {
    /// The entry being read when the problem was found (empty before any entry).
    pub entry: String,
    /// What was wrong.
    pub message: String,
}

impl std::fmt::Display for PtxParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.entry.is_empty() {
            write!(f, "malformed PTX: {}", self.message)
        } else {
            write!(f, "malformed PTX in entry {}: {}", self.entry, self.message)
        }
    }
}

impl std::error::Error for PtxParseError {}

/// Every `.entry` of `ptx`, in order of appearance, with its parameter list.
///
/// ```
/// let ptx = ".visible .entry scale(\n\t.param .u64 .ptr .align 1 scale_param_0,\n\
///            \t.param .f32 scale_param_1\n)\n{\n\tret;\n}\n";
/// let entries = riptide_build::ptx::entries(ptx)?;
/// assert_eq!(entries[0].name, "scale");
/// assert_eq!(entries[0].params[0].size, 8);
/// assert!(entries[0].params[0].pointer);
/// assert_eq!(entries[0].params[1].ty, "f32");
/// # Ok::<(), riptide_build::ptx::PtxParseError>(())
/// ```
pub fn entries(ptx: &str) -> Result<Vec<EntryInfo>, PtxParseError> {
    let text = strip_comments(ptx);
    let mut out = Vec::new();
    let mut rest = text.as_str();
    while let Some(at) = find_directive(rest, ".entry") {
        let after = &rest[at + ".entry".len()..];
        let after = after.trim_start();
        let name_end = after
            .find(|c: char| c == '(' || c.is_whitespace())
            .unwrap_or(after.len());
        let name = after[..name_end].to_owned();
        let err = |message: String| PtxParseError {
            entry: name.clone(),
            message,
        };
        if name.is_empty() {
            return Err(err(".entry without a name".to_owned()));
        }
        let after_name = after[name_end..].trim_start();
        let Some(list) = after_name.strip_prefix('(') else {
            return Err(err("no parameter list after the entry name".to_owned()));
        };
        let close = list
            .find(')')
            .ok_or_else(|| err("unterminated parameter list".to_owned()))?;
        let params = list[..close]
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| parse_param(p).map_err(|m| err(format!("parameter `{p}`: {m}"))))
            .collect::<Result<Vec<_>, _>>()?;
        out.push(EntryInfo { name, params });
        rest = &list[close..];
    }
    Ok(out)
}

/// The functions `ptx` declares `.extern .func` and never defines: calls the driver cannot
/// resolve, so a module holding any fails to load.
///
/// ```
/// let ptx = ".extern .func (.param .b32 r) vprintf(.param .b64 a, .param .b64 b);\n\
///            .visible .entry k()\n{\n\tret;\n}\n";
/// assert_eq!(riptide_build::ptx::unresolved_functions(ptx), ["vprintf"]);
/// ```
pub fn unresolved_functions(ptx: &str) -> Vec<String> {
    let text = strip_comments(ptx);
    let mut declared = Vec::new();
    let mut defined = Vec::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(func) = words.iter().position(|w| *w == ".func") else {
            continue;
        };
        // Only module-level directives: everything before `.func` must be a linkage word.
        if !words[..func]
            .iter()
            .all(|w| matches!(*w, ".extern" | ".visible" | ".weak" | ".common"))
        {
            continue;
        }
        let rest = line.split_once(".func").map_or("", |(_, r)| r).trim_start();
        // `.func (.param .b32 ret) name(` or `.func name(`
        let rest = match rest.strip_prefix('(') {
            Some(after_ret) => after_ret
                .split_once(')')
                .map_or(after_ret, |(_, r)| r)
                .trim_start(),
            None => rest,
        };
        let end = rest
            .find(|c: char| c == '(' || c == ';' || c.is_whitespace())
            .unwrap_or(rest.len());
        let name = rest[..end].to_owned();
        if name.is_empty() {
            continue;
        }
        if words[..func].contains(&".extern") {
            declared.push(name);
        } else {
            defined.push(name);
        }
    }
    let mut unresolved: Vec<String> = declared
        .into_iter()
        .filter(|d| !defined.contains(d))
        .collect();
    unresolved.dedup();
    unresolved
}

/// The `.target` architecture a PTX module was generated for (`sm_80`), if it names one.
pub fn target(ptx: &str) -> Option<&str> {
    ptx.lines().find_map(|l| {
        let rest = l.trim_start().strip_prefix(".target")?;
        rest.split([',', ' ', '\t'])
            .map(str::trim)
            .find(|w| !w.is_empty())
    })
}

/// Removes `//` line comments and `/* */` block comments.
fn strip_comments(ptx: &str) -> String {
    let mut out = String::with_capacity(ptx.len());
    let mut rest = ptx;
    loop {
        let line = rest.find("//");
        let block = rest.find("/*");
        match (line, block) {
            (Some(l), b) if b.is_none_or(|b| l < b) => {
                out.push_str(&rest[..l]);
                rest = rest[l..].find('\n').map_or("", |n| &rest[l + n..]);
            }
            (_, Some(b)) => {
                out.push_str(&rest[..b]);
                rest = rest[b..].find("*/").map_or("", |e| &rest[b + e + 2..]);
            }
            _ => {
                out.push_str(rest);
                return out;
            }
        }
    }
}

/// Position of `directive` as a whole word in `text`.
fn find_directive(text: &str, directive: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = text[from..].find(directive) {
        let at = from + i;
        let end = at + directive.len();
        let before_ok = at == 0 || text[..at].ends_with(|c: char| c.is_whitespace());
        let after_ok = text[end..].starts_with(|c: char| c.is_whitespace() || c == '(');
        if before_ok && after_ok {
            return Some(at);
        }
        from = end;
    }
    None
}

/// Parses one `.param ...` declaration of an entry's parameter list.
fn parse_param(decl: &str) -> Result<ParamInfo, String> {
    let mut words = decl.split_whitespace().peekable();
    if words.next() != Some(".param") {
        return Err("expected `.param`".to_owned());
    }
    let mut ty: Option<String> = None;
    let mut align: Option<usize> = None;
    let mut pointer = false;
    let mut name: Option<&str> = None;
    while let Some(word) = words.next() {
        match word {
            ".align" => {
                let n = words.next().ok_or("`.align` without a value")?;
                align = Some(n.parse().map_err(|_| format!("bad alignment `{n}`"))?);
            }
            ".ptr" => pointer = true,
            ".global" | ".shared" | ".const" | ".local" => {}
            w if w.starts_with('.') => {
                if ty.is_some() {
                    return Err(format!("unexpected `{w}` after the type"));
                }
                ty = Some(w[1..].to_owned());
            }
            w => {
                if name.is_some() {
                    return Err(format!("unexpected `{w}` after the name"));
                }
                name = Some(w);
            }
        }
    }
    let ty = ty.ok_or("no type")?;
    let name = name.ok_or("no name")?;
    let scalar = scalar_size(&ty).ok_or_else(|| format!("unknown type `.{ty}`"))?;
    let (name, size) = match name.split_once('[') {
        Some((base, count)) => {
            let count = count
                .strip_suffix(']')
                .and_then(|c| c.parse::<usize>().ok())
                .ok_or_else(|| format!("bad array length in `{name}`"))?;
            (base, scalar * count)
        }
        None => (name, scalar),
    };
    Ok(ParamInfo {
        name: name.to_owned(),
        ty,
        size,
        align: align.unwrap_or(scalar),
        pointer,
    })
}

/// Bytes of a PTX fundamental type.
fn scalar_size(ty: &str) -> Option<usize> {
    let bits: usize = match ty {
        "pred" => return Some(1),
        _ => ty.get(1..)?.parse().ok()?,
    };
    let kind_ok = matches!(ty.as_bytes()[0], b'u' | b's' | b'b' | b'f');
    (kind_ok && bits.is_multiple_of(8) && (8..=128).contains(&bits)).then_some(bits / 8)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Copied from rustc's nvptx64 output for riptide's axpby kernel (LLVM 22).
    const AXPBY: &str = "//\n// Generated by LLVM NVPTX Back-End\n//\n\n.version 7.0\n.target sm_80\n\
        .address_size 64\n\n.extern .shared .align 16 .b8 riptide_dynamic_smem[];\n\n\
        \t// .globl\triptide_axpby_f32\n\n.visible .entry riptide_axpby_f32(\n\
        \t.param .u64 .ptr .align 1 riptide_axpby_f32_param_0,\n\
        \t.param .u64 .ptr .align 1 riptide_axpby_f32_param_1,\n\
        \t.param .u64 riptide_axpby_f32_param_2,\n\
        \t.param .f32 riptide_axpby_f32_param_3,\n\
        \t.param .f32 riptide_axpby_f32_param_4\n)\n{\n\t.reg .pred \t%p<8>;\n\
        \tld.param.b32 \t%r1, [riptide_axpby_f32_param_4];\n\tret;\n\n}\n";

    // A struct passed by value (`#[repr(C)] struct { a: u64, b: f32 }`) as LLVM and nvcc
    // declare it, a bool, and an nvcc-style pointer without `.ptr`.
    const STRUCTS: &str = ".version 8.0\n.target sm_90a\n.address_size 64\n\
        .visible .entry with_struct(\n\t.param .align 8 .b8 with_struct_param_0[16],\n\
        \t.param .u8 with_struct_param_1,\n\t.param .u64 with_struct_param_2\n)\n\
        .maxntid 256, 1, 1\n{\n\tret;\n}\n\
        .entry no_params()\n{\n\tret;\n}\n\
        .visible .entry one_line(.param .b32 one_line_param_0, .param .align 4 .b8 one_line_param_1[12])\n{\n\tret;\n}\n";

    #[test]
    fn reads_llvm_kernel_parameters() {
        let e = entries(AXPBY).unwrap();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].name, "riptide_axpby_f32");
        let summary: Vec<(&str, usize, usize, bool)> = e[0]
            .params
            .iter()
            .map(|p| (p.ty.as_str(), p.size, p.align, p.pointer))
            .collect();
        assert_eq!(
            summary,
            [
                ("u64", 8, 1, true),
                ("u64", 8, 1, true),
                ("u64", 8, 8, false),
                ("f32", 4, 4, false),
                ("f32", 4, 4, false)
            ]
        );
        assert_eq!(e[0].params[4].name, "riptide_axpby_f32_param_4");
    }

    #[test]
    fn reads_struct_bool_and_plain_pointer_parameters() {
        let e = entries(STRUCTS).unwrap();
        let names: Vec<&str> = e.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["with_struct", "no_params", "one_line"]);
        let s = &e[0].params;
        assert_eq!(s.len(), 3);
        assert_eq!(
            (s[0].name.as_str(), s[0].ty.as_str(), s[0].size, s[0].align),
            ("with_struct_param_0", "b8", 16, 8)
        );
        assert_eq!((s[1].size, s[1].align), (1, 1));
        assert_eq!((s[2].size, s[2].pointer), (8, false));
        assert!(e[1].params.is_empty());
        let o = &e[2].params;
        assert_eq!(
            o.iter().map(|p| (p.size, p.align)).collect::<Vec<_>>(),
            [(4, 4), (12, 4)]
        );
        assert_eq!(target(STRUCTS), Some("sm_90a"));
        assert_eq!(target(AXPBY), Some("sm_80"));
    }

    #[test]
    fn ignores_entries_in_comments_and_calls() {
        let ptx = "// .visible .entry commented(.param .u32 x)\n/* .entry blocked() */\n\
                   .visible .func helper(.param .b32 a)\n{\n\tret;\n}\n\
                   .visible .entry real()\n{\n\tcall.uni helper, (1);\n\tret;\n}\n";
        let e = entries(ptx).unwrap();
        assert_eq!(
            e.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(),
            ["real"]
        );
    }

    #[test]
    fn malformed_parameters_name_the_entry_and_the_parameter() {
        let bad_type = ".visible .entry k(.param .q64 k_p0)\n{\n}\n";
        let err = entries(bad_type).unwrap_err();
        assert_eq!(err.entry, "k");
        let text = err.to_string();
        assert!(text.contains("entry k"), "{text}");
        assert!(text.contains(".q64"), "{text}");
        let unterminated = ".visible .entry k(.param .u32 a\n";
        assert!(
            entries(unterminated)
                .unwrap_err()
                .message
                .contains("unterminated")
        );
        let bad_array = ".entry k(.param .align 8 .b8 p[x])\n{}\n";
        assert!(
            entries(bad_array)
                .unwrap_err()
                .message
                .contains("array length")
        );
    }

    #[test]
    fn finds_extern_functions_that_are_not_defined() {
        let ptx = ".version 7.8\n.target sm_80\n\
                   .extern .func (.param .b32 func_retval0) vprintf(\n\t.param .b64 a,\n\t.param .b64 b\n);\n\
                   .extern .func _ZN4core9panicking18panic_bounds_check17h0E(\n\t.param .b64 a\n)\n;\n\
                   .extern .func defined_later(\n);\n\
                   .func defined_later()\n{\n\tret;\n}\n\
                   .extern .shared .align 16 .b8 smem[];\n\
                   .visible .entry k()\n{\n\tret;\n}\n";
        assert_eq!(
            unresolved_functions(ptx),
            ["vprintf", "_ZN4core9panicking18panic_bounds_check17h0E"]
        );
        assert!(unresolved_functions(AXPBY).is_empty());
    }
}
