//! Azure DevOps REST 7.1 connector (being written).
