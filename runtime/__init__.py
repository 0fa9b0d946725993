"""What every training and command-line entry point needs, whatever it trains: the tyro subcommand
runner (`runtime.cli`), the device and distributed setup (`runtime.device`), the learning-rate schedule
(`runtime.schedule`). It imports nothing of the toolkit's feature packages, so any of them may use it."""
