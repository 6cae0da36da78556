"""The command line: `mlpilot <noun> <verb>`."""
