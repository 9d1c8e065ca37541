"""Everything Qt: the feed model, the main window, dialogs, the qasync start-up."""
