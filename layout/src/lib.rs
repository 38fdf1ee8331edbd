//! The shape of the workspace, checked on its sources: every crate's
//! import graph has no loop, no .rs file is over 1,200 lines, no function
//! over 150. The checks themselves are `tests/layout.rs`:
//! `cargo test -p layout -- --nocapture` prints each crate's graph.
//!
//! The crates are the workspace's `members`; no list of them is kept here.
//! The sources are read as text: comments and literals blanked, cut into
//! tokens (`lex`), paths followed through each crate's module tree
//! (`tree`), edges taken between sibling modules and loops found (`graph`).

pub mod graph;
pub mod lex;
pub mod tree;
pub mod workspace;

/// The longest a .rs file may be, in lines.
pub const MAX_FILE_LINES: usize = 1200;
/// The longest a function may be, in lines.
pub const MAX_FN_LINES: usize = 150;
