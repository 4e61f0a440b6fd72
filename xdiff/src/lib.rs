//! git's three-way text merge and its line diff, in process.
//!
//! git merges file contents with xdiff's `xdl_merge` (`xdiff/xmerge.c`) over a histogram diff
//! (`xdiff/xhistogram.c`), then compacts each change as `xdiff/xdiffi.c` does. libgit2 bundles
//! the same xdiff sources and compiles them into the static library the `git2` crate links;
//! this crate calls that `xdl_merge` directly. libgit2's own `git_merge_file` cannot be used:
//! it offers Myers and patience but not histogram, and git's `ort` merges with histogram.
//!
//! # Why the bundled copy is git's
//! libgit2 1.9.x (`libgit2-sys` 0.18.8, pinned in `Cargo.toml`) carries xdiff as git 2.47
//! has it. Against git v2.47.3, `xhistogram.c`, `xprepare.c`, `xutils.c`, `xemit.c` and every
//! header but `xdiff.h`/`xinclude.h` are byte-identical; `xmerge.c` and `xdiffi.c` differ
//! only in the allocator (`xdl_free` for `free`), `BUG` becoming `XDL_BUG` (an error return,
//! not an abort), regex type names, and `xdl_merge` not calling `malloc(0)` when one side is
//! taken whole and is empty. The result of a merge is the same bytes. The tests of this crate
//! compare with `git merge-file` itself.
//!
//! # License
//! xdiff is LGPL-2.1-or-later; libgit2 is GPL-2.0 with a linking exception. This crate's
//! types mirror `xdiff.h`, so it is under xdiff's license.

use std::ffi::c_char;
use std::ffi::c_int;
use std::ffi::c_long;
use std::ffi::c_ulong;
use std::ptr;

/// `XDF_HISTOGRAM_DIFF` (`xdiff.h`).
const XDF_HISTOGRAM_DIFF: c_ulong = 1 << 15;
/// `XDF_INDENT_HEURISTIC` (`xdiff.h`).
const XDF_INDENT_HEURISTIC: c_ulong = 1 << 23;
/// git refuses to text-merge inputs this large (`MAX_XDIFF_SIZE` in `xdiff-interface.h`).
pub const MAX_SIZE: usize = 1024 * 1024 * 1023;

/// `mmfile_t` and `mmbuffer_t` (`xdiff.h`): a pointer and a length.
#[repr(C)]
struct MmFile {
    ptr: *mut c_char,
    size: c_long,
}

/// `xpparam_t` (`xdiff.h`).
#[repr(C)]
struct XpParam {
    flags: c_ulong,
    ignore_regex: *mut *mut std::ffi::c_void,
    ignore_regex_nr: usize,
    anchors: *mut *mut c_char,
    anchors_nr: usize,
}

/// `xmparam_t` (`xdiff.h`).
#[repr(C)]
struct XmParam {
    xpp: XpParam,
    marker_size: c_int,
    level: c_int,
    favor: c_int,
    style: c_int,
    ancestor: *const c_char,
    file1: *const c_char,
    file2: *const c_char,
}

/// libgit2's `git_buf` (`include/git2/buffer.h`), to hand a result back to its allocator.
#[repr(C)]
struct GitBuf {
    ptr: *mut c_char,
    reserved: usize,
    size: usize,
}

/// `xdemitcb_t` (`xdiff.h`): where xdiff sends hunk headers and lines.
#[repr(C)]
struct XdEmitCb {
    private: *mut std::ffi::c_void,
    out_hunk: Option<
        unsafe extern "C" fn(
            *mut std::ffi::c_void,
            c_long,
            c_long,
            c_long,
            c_long,
            *const c_char,
            c_long,
        ) -> c_int,
    >,
    out_line: Option<unsafe extern "C" fn(*mut std::ffi::c_void, *mut MmFile, c_int) -> c_int>,
}

/// `xdemitconf_t` (`xdiff.h`).
#[repr(C)]
struct XdEmitConf {
    ctxlen: c_long,
    interhunkctxlen: c_long,
    flags: c_ulong,
    find_func: *const std::ffi::c_void,
    find_func_priv: *mut std::ffi::c_void,
    hunk_func: *const std::ffi::c_void,
}

unsafe extern "C" {
    /// `xdiff/xdiffi.c`: diffs `mf1` against `mf2`, emitting through `ecb`.
    fn xdl_diff(
        mf1: *mut MmFile,
        mf2: *mut MmFile,
        xpp: *const XpParam,
        xecfg: *const XdEmitConf,
        ecb: *mut XdEmitCb,
    ) -> c_int;
    /// `xdiff/xmerge.c`. Reads the three inputs, writes a buffer allocated with libgit2's
    /// allocator into `result`; returns the number of conflicts, or a negative value on error.
    fn xdl_merge(
        orig: *mut MmFile,
        mf1: *mut MmFile,
        mf2: *mut MmFile,
        xmp: *const XmParam,
        result: *mut MmFile,
    ) -> c_int;
    /// `src/libgit2/buf.c`: frees a buffer's memory with libgit2's allocator.
    fn git_buf_dispose(buf: *mut GitBuf);
}

/// How far xdiff simplifies conflicts (`XDL_MERGE_*` levels).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Every change of both sides that overlaps is one conflict.
    Minimal,
    /// Identical changes on both sides are not conflicts.
    Eager,
    /// Also trims lines both sides changed the same way off each conflict: git's `ort`.
    Zealous,
    /// Also joins conflicts separated only by lines without letters or digits:
    /// `git merge-file`.
    ZealousAlnum,
}

/// How a conflict is written (`XDL_MERGE_*` styles).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Both sides (git's `merge` style).
    Merge,
    /// Both sides and the base between them (`diff3`); xdiff then does not simplify.
    Diff3,
    /// `zdiff3`: the base too, with the common lines moved out.
    ZealousDiff3,
}

/// Which diff xdiff runs of each side against the base.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// Myers (xdiff's default, git's diff default).
    Myers,
    /// Histogram: what `ort` merges with.
    Histogram,
}

/// Options of one merge.
#[derive(Debug, Clone)]
pub struct Options {
    pub algorithm: Algorithm,
    pub level: Level,
    pub style: Style,
    /// Slide changes by git's indent heuristic (`diff.indentHeuristic`; `ort` does not).
    pub indent_heuristic: bool,
    /// The length of conflict markers.
    pub marker_size: u8,
    /// Labels after the markers: base, ours, theirs.
    pub labels: [Option<std::ffi::CString>; 3],
}

impl Options {
    /// What git's `ort` strategy asks of xdiff for a content merge: histogram, zealous, no
    /// indent heuristic, git's default style and markers.
    pub fn ort() -> Self {
        Self {
            algorithm: Algorithm::Histogram,
            level: Level::Zealous,
            style: Style::Merge,
            indent_heuristic: false,
            marker_size: 7,
            labels: [None, None, None],
        }
    }

    /// What `git merge-file --diff-algorithm=histogram` asks.
    pub fn merge_file() -> Self {
        Self {
            level: Level::ZealousAlnum,
            ..Self::ort()
        }
    }

    /// The same options in another style.
    #[must_use]
    pub fn with_style(self, style: Style) -> Self {
        Self { style, ..self }
    }
}

/// A merged text and how many conflicts it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged {
    /// The result, with conflict markers where there are conflicts.
    pub text: Vec<u8>,
    /// The number of conflicts; 0 for a clean merge.
    pub conflicts: usize,
}

/// Why a merge could not be made.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// An input is larger than git text-merges ([`MAX_SIZE`]).
    #[error("a file of {size} bytes is larger than git merges as text")]
    TooLarge { size: usize },
    /// xdiff failed (it returns an error for an allocation failure or a broken invariant).
    #[error("xdiff's merge failed")]
    Failed,
}

/// xdiff's view of `data`, refused past [`MAX_SIZE`] as git refuses it; libgit2 (whose
/// allocator xdiff uses) initialised.
fn inputs<const N: usize>(data: [&[u8]; N]) -> Result<[MmFile; N], Error> {
    if let Some(large) = data.iter().find(|input| input.len() > MAX_SIZE) {
        return Err(Error::TooLarge { size: large.len() });
    }
    libgit2_sys::init();
    Ok(data.map(|input| MmFile {
        // xdiff only reads its inputs; the pointer is `char *` for historical reasons.
        ptr: input.as_ptr().cast::<c_char>().cast_mut(),
        // Bounded by MAX_SIZE above, far below c_long::MAX.
        size: c_long::try_from(input.len()).unwrap_or(c_long::MAX),
    }))
}

/// Merges `ours` and `theirs`, two descendants of `base`, as git does.
pub fn merge(base: &[u8], ours: &[u8], theirs: &[u8], options: &Options) -> Result<Merged, Error> {
    let [mut orig, mut mf1, mut mf2] = inputs([base, ours, theirs])?;
    let label =
        |label: &Option<std::ffi::CString>| label.as_ref().map_or(ptr::null(), |l| l.as_ptr());
    let params = XmParam {
        xpp: XpParam {
            flags: flags(options.algorithm, options.indent_heuristic),
            ignore_regex: ptr::null_mut(),
            ignore_regex_nr: 0,
            anchors: ptr::null_mut(),
            anchors_nr: 0,
        },
        marker_size: c_int::from(options.marker_size),
        level: match options.level {
            Level::Minimal => 0,
            Level::Eager => 1,
            Level::Zealous => 2,
            Level::ZealousAlnum => 3,
        },
        favor: 0,
        style: match options.style {
            Style::Merge => 0,
            Style::Diff3 => 1,
            Style::ZealousDiff3 => 2,
        },
        ancestor: label(&options.labels[0]),
        file1: label(&options.labels[1]),
        file2: label(&options.labels[2]),
    };
    let mut result = MmFile {
        ptr: ptr::null_mut(),
        size: 0,
    };
    // SAFETY: the three inputs point at live slices of the stated lengths, which xdiff only
    // reads; `params` and the labels outlive the call; `result` is a valid out-parameter.
    // libgit2 is initialised above, so its allocator is set.
    let status = unsafe {
        xdl_merge(
            &raw mut orig,
            &raw mut mf1,
            &raw mut mf2,
            &raw const params,
            &raw mut result,
        )
    };
    let text = if result.ptr.is_null() || result.size <= 0 {
        Vec::new()
    } else {
        let len = usize::try_from(result.size).unwrap_or(0);
        // SAFETY: on return xdiff's result points at `size` initialised bytes it allocated.
        unsafe { std::slice::from_raw_parts(result.ptr.cast::<u8>(), len) }.to_vec()
    };
    if !result.ptr.is_null() {
        let mut buf = GitBuf {
            ptr: result.ptr,
            reserved: 0,
            size: 0,
        };
        // SAFETY: `result.ptr` came from libgit2's allocator (xdl_malloc is git__malloc) and
        // is freed once, here; `git_buf_dispose` frees a buffer's pointer with git__free.
        unsafe { git_buf_dispose(&raw mut buf) };
    }
    match usize::try_from(status) {
        Ok(conflicts) => Ok(Merged { text, conflicts }),
        Err(_) => Err(Error::Failed),
    }
}

/// Options of a line diff.
#[derive(Debug, Clone, Copy)]
pub struct DiffOptions {
    pub algorithm: Algorithm,
    /// git's `diff.indentHeuristic` (on by default in git's diffs).
    pub indent_heuristic: bool,
    /// Lines of context around each change.
    pub context: u32,
}

impl DiffOptions {
    /// What git's own diffs use unless configured otherwise (`git diff`, `git cherry`'s
    /// patch-ids): Myers, the indent heuristic, three lines of context.
    pub fn git_default() -> Self {
        Self {
            algorithm: Algorithm::Myers,
            indent_heuristic: true,
            context: 3,
        }
    }
}

/// What a diff reports, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiffEvent<'a> {
    /// A hunk starts: its first line and line count on each side, as git's header prints
    /// them (a side with no lines starts at the line before).
    Hunk {
        old_start: u64,
        old_lines: u64,
        new_start: u64,
        new_lines: u64,
    },
    /// One line of the hunk: `b' '` (context), `b'-'` or `b'+'`, and the line with its
    /// newline (without one only at the end of a file that has none).
    Line { origin: u8, text: &'a [u8] },
}

impl DiffEvent<'_> {
    /// A hunk's header as git prints it (`@@ -2 +2,3 @@`; a count of one is left out).
    pub fn header(old_start: u64, old_lines: u64, new_start: u64, new_lines: u64) -> String {
        let side = |start: u64, lines: u64| {
            if lines == 1 {
                start.to_string()
            } else {
                format!("{start},{lines}")
            }
        };
        format!(
            "@@ -{} +{} @@",
            side(old_start, old_lines),
            side(new_start, new_lines)
        )
    }
}

/// Receives a diff's events.
pub type EventFn<'a> = dyn FnMut(DiffEvent<'_>) + 'a;

/// The state a diff's callbacks reach through xdiff's `void *`.
struct Emit<'a, 'b> {
    on_event: &'a mut EventFn<'b>,
    panic: Option<Box<dyn std::any::Any + Send>>,
}

impl Emit<'_, '_> {
    /// Calls back, keeping a panic to resume once xdiff has returned (unwinding through C is
    /// undefined behaviour).
    fn send(&mut self, event: DiffEvent<'_>) -> c_int {
        if self.panic.is_some() {
            return -1;
        }
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (self.on_event)(event))) {
            Ok(()) => 0,
            Err(panic) => {
                self.panic = Some(panic);
                -1
            }
        }
    }
}

/// xdiff's `out_hunk`: a hunk's header fields (given here, xdiff does not print them).
unsafe extern "C" fn emit_hunk(
    private: *mut std::ffi::c_void,
    old_start: c_long,
    old_lines: c_long,
    new_start: c_long,
    new_lines: c_long,
    _function: *const c_char,
    _function_len: c_long,
) -> c_int {
    // SAFETY: `private` is the `Emit` that `diff` passed to xdl_diff, alive for the call,
    // and xdiff calls back on the calling thread only.
    let emit = unsafe { &mut *private.cast::<Emit<'_, '_>>() };
    let number = |n: c_long| u64::try_from(n).unwrap_or(0);
    emit.send(DiffEvent::Hunk {
        old_start: number(old_start),
        old_lines: number(old_lines),
        new_start: number(new_start),
        new_lines: number(new_lines),
    })
}

/// xdiff's `out_line`: a prefix buffer and the record (and, for a last line without a
/// newline, a third buffer saying so, which is dropped).
unsafe extern "C" fn emit_line(
    private: *mut std::ffi::c_void,
    buffers: *mut MmFile,
    count: c_int,
) -> c_int {
    // SAFETY: `private` is the `Emit` that `diff` passed to xdl_diff, alive for the call,
    // and xdiff calls back on the calling thread only.
    let emit = unsafe { &mut *private.cast::<Emit<'_, '_>>() };
    if count < 2 {
        return 0;
    }
    let part = |index: usize| -> &[u8] {
        // SAFETY: xdiff passes `count` (>= 2 here) buffers in one array; `index` < 2.
        let buffer = unsafe { buffers.add(index) };
        // SAFETY: each of them is a valid `mmbuffer_t` for the duration of the call.
        let buffer = unsafe { &*buffer };
        match usize::try_from(buffer.size) {
            Ok(len) if len > 0 && !buffer.ptr.is_null() => {
                // SAFETY: as above: `ptr` points at `len` readable bytes.
                unsafe { std::slice::from_raw_parts(buffer.ptr.cast::<u8>(), len) }
            }
            _ => &[],
        }
    };
    let (prefix, line) = (part(0), part(1));
    let Some(&origin) = prefix.first() else {
        return 0;
    };
    emit.send(DiffEvent::Line { origin, text: line })
}

/// Diffs `old` against `new` as git does, calling `on_event` for every hunk and for every
/// context, removed and added line of it, in order.
///
/// As git's `xdi_diff`, a diff without context first drops the common tail of both texts
/// (it can hold no change), so hunks come out as `git diff -U0` prints them.
pub fn diff(
    old: &[u8],
    new: &[u8],
    options: &DiffOptions,
    on_event: &mut EventFn<'_>,
) -> Result<(), Error> {
    let [old, new] = if options.context == 0 {
        without_common_tail(old, new)
    } else {
        [old, new]
    };
    let [mut a, mut b] = inputs([old, new])?;
    let params = XpParam {
        flags: flags(options.algorithm, options.indent_heuristic),
        ignore_regex: ptr::null_mut(),
        ignore_regex_nr: 0,
        anchors: ptr::null_mut(),
        anchors_nr: 0,
    };
    let config = XdEmitConf {
        ctxlen: c_long::from(options.context),
        interhunkctxlen: 0,
        flags: 0,
        find_func: ptr::null(),
        find_func_priv: ptr::null_mut(),
        hunk_func: ptr::null(),
    };
    let mut emit = Emit {
        on_event,
        panic: None,
    };
    let mut callbacks = XdEmitCb {
        private: (&raw mut emit).cast(),
        out_hunk: Some(emit_hunk),
        out_line: Some(emit_line),
    };
    // SAFETY: the inputs point at live slices of the stated lengths, which xdiff only reads;
    // `params`, `config` and `callbacks` (and the `emit` state it points at) outlive the call.
    let status = unsafe {
        xdl_diff(
            &raw mut a,
            &raw mut b,
            &raw const params,
            &raw const config,
            &raw mut callbacks,
        )
    };
    if let Some(panic) = emit.panic {
        std::panic::resume_unwind(panic);
    }
    if status < 0 {
        Err(Error::Failed)
    } else {
        Ok(())
    }
}

/// `old` and `new` without the tail they share, as git's `trim_common_tail` finds it: whole
/// 1 KiB blocks compared from the end, then back to just after the first line end within
/// them, so that both texts still end at a line end of their own.
fn without_common_tail<'t>(old: &'t [u8], new: &'t [u8]) -> [&'t [u8]; 2] {
    const BLOCK: usize = 1024;
    let smaller = old.len().min(new.len());
    let mut trimmed = 0;
    while trimmed + BLOCK <= smaller
        && old[old.len() - trimmed - BLOCK..old.len() - trimmed]
            == new[new.len() - trimmed - BLOCK..new.len() - trimmed]
    {
        trimmed += BLOCK;
    }
    let tail = &old[old.len() - trimmed..];
    let kept = tail
        .iter()
        .position(|&byte| byte == b'\n')
        .map_or(trimmed, |end| end + 1);
    let cut = trimmed - kept;
    [&old[..old.len() - cut], &new[..new.len() - cut]]
}

fn flags(algorithm: Algorithm, indent_heuristic: bool) -> c_ulong {
    (match algorithm {
        Algorithm::Myers => 0,
        Algorithm::Histogram => XDF_HISTOGRAM_DIFF,
    }) | if indent_heuristic {
        XDF_INDENT_HEURISTIC
    } else {
        0
    }
}
