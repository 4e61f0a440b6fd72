//! git's three-way text merge, in process.
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

unsafe extern "C" {
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

/// Merges `ours` and `theirs`, two descendants of `base`, as git does.
pub fn merge(base: &[u8], ours: &[u8], theirs: &[u8], options: &Options) -> Result<Merged, Error> {
    for input in [base, ours, theirs] {
        if input.len() > MAX_SIZE {
            return Err(Error::TooLarge { size: input.len() });
        }
    }
    libgit2_sys::init();
    let file = |data: &[u8]| MmFile {
        // xdiff only reads its inputs; the pointer is `char *` for historical reasons.
        ptr: data.as_ptr().cast::<c_char>().cast_mut(),
        // Bounded by MAX_SIZE above, far below c_long::MAX.
        size: c_long::try_from(data.len()).unwrap_or(c_long::MAX),
    };
    let (mut orig, mut mf1, mut mf2) = (file(base), file(ours), file(theirs));
    let label =
        |label: &Option<std::ffi::CString>| label.as_ref().map_or(ptr::null(), |l| l.as_ptr());
    let params = XmParam {
        xpp: XpParam {
            flags: match options.algorithm {
                Algorithm::Myers => 0,
                Algorithm::Histogram => XDF_HISTOGRAM_DIFF,
            } | if options.indent_heuristic {
                XDF_INDENT_HEURISTIC
            } else {
                0
            },
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
