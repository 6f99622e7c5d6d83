//! Device memory accounting: every buffer is counted against the device's global memory
//! before the driver is asked, so that an allocation past it is the typed, recoverable
//! [`OclError::OutOfMemory`] on every implementation.
//!
//! Why the backend counts: drivers over-commit. PoCL accepted 20 GiB of buffers on a
//! device that reports 2 GiB of global memory (it allocates host memory lazily, at the
//! first use), and the process was then killed by the OOM killer. The count is per device
//! and shared by every context of the process on it (two backends on one device share
//! its memory); a buffer gives its bytes back when dropped.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::error::OclError;

/// Bytes in use on one device, shared by its contexts.
fn counter(device: usize) -> Arc<AtomicU64> {
    static COUNTERS: Mutex<Option<HashMap<usize, Arc<AtomicU64>>>> = Mutex::new(None);
    let mut all = COUNTERS.lock().unwrap_or_else(|e| e.into_inner());
    all.get_or_insert_with(HashMap::new)
        .entry(device)
        .or_default()
        .clone()
}

/// The memory budget of a device: a limit and the shared count of bytes in use.
#[derive(Clone, Debug)]
pub(crate) struct Budget {
    used: Arc<AtomicU64>,
    limit: u64,
}

impl Budget {
    /// The budget of the device `device` (its `cl_device_id` as an address): `limit` bytes.
    pub(crate) fn new(device: usize, limit: u64) -> Budget {
        Budget {
            used: counter(device),
            limit,
        }
    }

    /// The same count with another limit.
    pub(crate) fn with_limit(&self, limit: u64) -> Budget {
        Budget {
            used: self.used.clone(),
            limit,
        }
    }

    /// The limit in bytes.
    pub(crate) fn limit(&self) -> u64 {
        self.limit
    }

    /// Bytes held by live buffers on the device.
    pub(crate) fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// Reserves `bytes`, or says why not.
    pub(crate) fn reserve(&self, bytes: usize) -> Result<Reservation, OclError> {
        let want = bytes as u64;
        let mut cur = self.used.load(Ordering::Relaxed);
        loop {
            let next = cur.checked_add(want).filter(|&n| n <= self.limit);
            let Some(next) = next else {
                return Err(OclError::OutOfMemory {
                    bytes,
                    detail: format!(
                        "live buffers hold {cur} of the device's {} bytes \
                         (CL_DEVICE_GLOBAL_MEM_SIZE; the backend counts every buffer, \
                         as drivers may over-commit)",
                        self.limit
                    ),
                });
            };
            match self
                .used
                .compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => {
                    return Ok(Reservation {
                        used: self.used.clone(),
                        bytes: want,
                    })
                }
                Err(now) => cur = now,
            }
        }
    }
}

/// Bytes reserved against a device's budget, given back on drop.
#[derive(Debug)]
pub(crate) struct Reservation {
    used: Arc<AtomicU64>,
    bytes: u64,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.used.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_count_until_dropped() {
        // A device id no real device has.
        let b = Budget::new(usize::MAX - 7, 100);
        let r1 = b.reserve(60).unwrap();
        assert_eq!(b.used(), 60);
        let e = b.reserve(41).unwrap_err();
        assert!(matches!(e, OclError::OutOfMemory { bytes: 41, .. }), "{e}");
        assert!(
            e.to_string().contains("60 of the device's 100 bytes"),
            "{e}"
        );
        let r2 = b.reserve(40).unwrap();
        drop(r1);
        assert_eq!(b.used(), 40);
        // Another context on the same device shares the count.
        let other = Budget::new(usize::MAX - 7, 100);
        assert_eq!(other.used(), 40);
        assert!(other.reserve(61).is_err());
        drop(r2);
        assert_eq!(other.used(), 0);
        assert!(b.reserve(usize::MAX).is_err());
    }
}
