//! The simulated device (being written).
