/// jemalloc, not glibc's malloc: records are allocated on the fetch tasks and freed on the store's
/// writer thread, which glibc serialises on its arena locks (issue 24: a third of the pull's CPU
/// was malloc/free; docs/performance.md has the figures).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read before `main`: one arena, as for glibc below. With one per thread
/// (jemalloc's default), what the loader and fetch threads allocate and the writer frees stays in
/// their arenas, never reused by the writer's detection: `bench` peaked 5-10 MB higher at 100,000
/// users (and at 300,000), at the same speed. `_RJEM_MALLOC_CONF` still overrides it.
#[unsafe(export_name = "_rjem_malloc_conf")]
static JEMALLOC_CONF: JemallocConf = JemallocConf(c"narenas:1".as_ptr());

/// A C string jemalloc reads as its `malloc_conf` (a `const char *`).
#[repr(transparent)]
struct JemallocConf(*const std::ffi::c_char);

// SAFETY: the pointer is to a static, immutable C string.
unsafe impl Sync for JemallocConf {}

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
