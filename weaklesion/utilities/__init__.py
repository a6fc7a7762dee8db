"""What every stage uses: files written atomically, each rule's log, and the worker pool."""
