//! The orchestrator's own tests: the engine driven as a library over real repositories, with
//! a recording executor where a test is about what runs and in which order, not processes.

#[path = "../../../tests/support/repo.rs"]
mod repo;

mod support;

mod planning;
mod testing_what_is_carried;
