"""Training mode: scenarios replayed on the simulator, recorded from history, debriefed."""
