fn main() -> std::process::ExitCode {
    scimdrift::cli::main()
}
