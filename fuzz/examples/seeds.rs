//! Writes the seeds of every target (`shmq_fuzz::seeds`) to
//! `seeds/<target>/<name>`, replacing the files already there:
//!
//! ```text
//! cd fuzz
//! cargo run --example seeds
//! ```
//!
//! The unit tests (`cargo test --lib`) check that each seed reaches the
//! path it is named for and that the files match the generator.

use std::path::Path;

fn main() -> std::io::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    let seeds = shmq_fuzz::seeds();
    for target in ["header", "ring", "records", "lanes"] {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir)?;
        for entry in std::fs::read_dir(&dir)? {
            std::fs::remove_file(entry?.path())?;
        }
    }
    for seed in &seeds {
        let path = root.join(seed.target).join(seed.name);
        std::fs::write(&path, &seed.bytes)?;
        println!(
            "{:5} B  {:60} {}",
            seed.bytes.len(),
            path.display(),
            seed.class
        );
    }
    Ok(())
}
