fn main() -> std::process::ExitCode {
    qaqpa::cli::main()
}
