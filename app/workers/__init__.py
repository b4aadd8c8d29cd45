"""Qt workers: QObjects in QThreads, the only bridge between the window and the engine."""
