//! The allocator's free memory given back to the kernel. glibc keeps freed
//! heap pages resident (per thread arena) until told otherwise: a daemon
//! that once held a large table or parsed the kernel's BTF would keep that
//! much RSS for good. libc is used directly: nix wraps neither mallopt nor
//! malloc_trim.

/// Blocks at least this large are mapped on their own and unmapped when
/// freed (a table's hash index, a ruleset's rule vector, a control frame).
const MMAP_THRESHOLD: libc::c_int = 256 * 1024;

/// Fix glibc's mmap threshold. Left alone, glibc raises it to the size of
/// each large block freed (up to 32 MiB), so after one million-entry table
/// is flushed the next large tables come from the heap, fragment it, and
/// stay resident: measured in regress/netns/ctlflood.sh, pfd kept 62 MB
/// after `-T kill` of a million addresses against 15 MB with the threshold
/// fixed. Call once at start, before the threads.
pub fn tune() {
    // SAFETY: mallopt only changes an allocator parameter.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    }
}

/// Return the allocator's free pages to the kernel (malloc_trim).
pub fn release_free() {
    // SAFETY: malloc_trim only releases memory the allocator holds free;
    // no live allocation is touched.
    unsafe {
        libc::malloc_trim(0);
    }
}
