/// jemalloc, not glibc's malloc: records are allocated on the fetch tasks and freed on the store's
/// writer thread, which glibc serialises on its arena locks (issue 24: a third of the pull's CPU
/// was malloc/free; docs/performance.md has the figures).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    limit_malloc_arenas();
    let code = scimdrift::cli::main();
    // A pull's checkpoint runs after its result was told: let it finish before the process ends.
    scimdrift::store::settle_all();
    code
}

/// glibc gives each thread its own malloc arena; pages parsed on the async workers and freed on the
/// store's writer thread then fragment several arenas (about a third more peak memory in `bench`).
/// One arena keeps the peak proportional to the live data at no measurable cost in speed.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only adjusts an allocator parameter; it is called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}
