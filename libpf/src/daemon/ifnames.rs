//! Interface index → name, cached (the data path asks for every packet).

use std::collections::HashMap;

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
    // nix 0.30 misses if_indextoname's NULL (it checks for -1) and
    // answers an empty name for an unknown index: that is None too.
    nix::net::if_::if_indextoname(index)
        .ok()?
        .into_string()
        .ok()
        .filter(|n| !n.is_empty())
}
