//! The allocator's free memory given back to the kernel. glibc keeps freed
//! heap pages resident (per thread arena) until told otherwise: a daemon
//! that once held a large table or parsed the kernel's BTF would keep that
//! much RSS for good.

/// Return the allocator's free pages to the kernel (malloc_trim).
pub fn release_free() {
    // SAFETY: malloc_trim only releases memory the allocator holds free;
    // no live allocation is touched.
    unsafe {
        libc::malloc_trim(0);
    }
}
