//! Configuration file schema (stub).
