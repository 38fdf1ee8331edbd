//! Interface index → name, cached (the data path asks for every packet).

use std::collections::HashMap;
use std::ffi::CStr;

#[derive(Default)]
pub struct IfNames {
    cache: HashMap<u32, String>,
}

impl IfNames {
    pub fn get(&mut self, index: u32) -> &str {
        if index == 0 {
            return "";
        }
        self.cache
            .entry(index)
            .or_insert_with(|| lookup(index).unwrap_or_default())
    }

    /// Forget everything (interfaces come and go).
    pub fn clear(&mut self) {
        self.cache.clear();
    }
}

fn lookup(index: u32) -> Option<String> {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: buf has IF_NAMESIZE bytes, as if_indextoname requires.
    let p = unsafe { libc::if_indextoname(index, buf.as_mut_ptr()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: on success if_indextoname wrote a NUL-terminated name into buf.
    unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_str()
        .ok()
        .map(str::to_string)
}
