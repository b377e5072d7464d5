//! Where the binary's own text goes: results to stdout, errors to stderr, and what happens when
//! the reader has gone away.
//!
//! Rust ignores SIGPIPE, so writing to a closed pipe (`switchboard probe URL | head`) is an
//! `EPIPE` error, and `println!` turns that into a panic. Every write of ours goes through here
//! instead: [`outln!`] returns the error so the command stops where it is (closing what it
//! opened on the way out), and `main` asks [`is_broken_pipe`] to end such a run quietly.

use std::fmt;
use std::io::{self, Write};

/// Writes to stdout; an error (a closed pipe) is the caller's cue to stop.
pub fn stdout(args: fmt::Arguments<'_>) -> io::Result<()> {
    io::stdout().lock().write_fmt(args)
}

/// Writes to stderr. A failure is ignored: with stderr gone there is nowhere left to report it.
pub fn stderr(args: fmt::Arguments<'_>) {
    let _ = io::stderr().lock().write_fmt(args);
}

/// Whether `e` comes from writing to a reader that went away. Such a run ends quietly with exit
/// status 0, as ripgrep does: the reader took what it wanted (`| head`), which is the convention
/// of Unix tools that die of an unhandled SIGPIPE without a word; a non-zero status would fail
/// `set -o pipefail` scripts for output nobody asked for.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// `print!` to stdout through [`stdout`]: an `io::Result<()>`.
macro_rules! out {
    ($($arg:tt)*) => { $crate::output::stdout(format_args!($($arg)*)) };
}

/// `println!` to stdout through [`stdout`]: an `io::Result<()>`.
macro_rules! outln {
    ($($arg:tt)*) => { $crate::output::stdout(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `eprintln!` through [`stderr`]: never panics.
macro_rules! errln {
    ($($arg:tt)*) => { $crate::output::stderr(format_args!("{}\n", format_args!($($arg)*))) };
}

pub(crate) use {errln, out, outln};
