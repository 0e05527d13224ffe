"""The commands: orchestration only, and the only code that writes result files."""
