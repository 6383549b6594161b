//! Rebuilds Portico when a migration is added or changed: the migrations are embedded in the
//! binary, and Cargo does not otherwise look at them.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
