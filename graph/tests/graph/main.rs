//! Integration tests of carry-graph: properties of the order and impact queries on generated
//! workspaces, and the parser fed random and mutated input.

mod generated;
mod order_properties;
mod parser_fuzz;
