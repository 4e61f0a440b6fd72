pub(crate) fn run(
    _g: &crate::cli::GlobalArgs,
    _a: &crate::cli::DemoArgs,
) -> Result<crate::error::Outcome, crate::error::CliError> {
    Err(crate::error::CliError::failure("demo"))
}
