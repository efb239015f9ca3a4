//! crossvault-core: the pure decision core (being written).
