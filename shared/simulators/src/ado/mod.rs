//! ado simulator (being written).
pub struct AdoSim;
pub struct AdoSeed;
