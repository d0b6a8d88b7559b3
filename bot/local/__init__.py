"""Try before installing: demo data, the fake DLI gateway, the Slack stand-in, the console."""
