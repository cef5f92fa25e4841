//! Loom models of shmq protocols; see tests/.
